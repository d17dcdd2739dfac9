/*
 * The workflow schema as a C table, derived from actions/runner
 * src/Sdk/WorkflowParser/workflow-v1.0.json (runner v2.336.0, commit 258d6c8;
 * MIT, Copyright (c) 2019 GitHub) by a one-off transform: only definitions
 * reachable from the root are kept, descriptions are dropped, context lists
 * become EX_CTX_* and EX_FN_* bits. The root is "workflow-root-strict" (so
 * event names are checked) plus the `description` key of "workflow-root".
 * Adjustments: `on` is optional (act plans a workflow without triggers as
 * zero jobs; GitHub requires it), `type` of a workflow_call input is
 * optional (act accepts it, default string), and jobs.<id>.environment takes
 * `deployment: <bool>` (newer than this schema copy; used by astral-sh/uv),
 * and on.schedule items take `timezone` next to `cron` (documented by GitHub,
 * absent from this schema copy; workflow-semantics.md section 14).
 * Built-in types (null, boolean, number, string, sequence, mapping, any) are
 * spelled out as the template reader defines them.
 */
#include "ex/expr.h"
#include "workflow_internal.h"

static const struct ex__sprop p0[] = {
    /* workflow-root-strict */
    {"on", 2, false},          {"name", 3, false},        {"description", 4, false},
    {"run-name", 5, false},    {"defaults", 6, false},    {"env", 7, false},
    {"permissions", 8, false}, {"concurrency", 9, false}, {"jobs", 10, true},
};
static const unsigned short o1[] = {11, 12, 13, 14, 15, 16}; /* any */
static const unsigned short o2[] = {17, 18, 19};             /* on-strict */
static const struct ex__sprop p6[] = {
    /* workflow-defaults */
    {"run", 20, false},
};
static const unsigned short o8[] = {22, 23, 24}; /* permissions */
static const unsigned short o9[] = {14, 25};     /* workflow-concurrency */
static const unsigned short o17[] = {
    28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46,
    47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64}; /* on-string-strict */
static const struct ex__sprop p19[] = {
    /* on-mapping-strict */
    {"branch_protection_rule", 65, false},
    {"check_run", 66, false},
    {"check_suite", 67, false},
    {"create", 68, false},
    {"delete", 69, false},
    {"deployment", 70, false},
    {"deployment_status", 71, false},
    {"discussion", 72, false},
    {"discussion_comment", 73, false},
    {"fork", 74, false},
    {"gollum", 75, false},
    {"image_version", 76, false},
    {"issue_comment", 77, false},
    {"issues", 78, false},
    {"label", 79, false},
    {"merge_group", 80, false},
    {"milestone", 81, false},
    {"page_build", 82, false},
    {"project", 83, false},
    {"project_card", 84, false},
    {"project_column", 85, false},
    {"public", 86, false},
    {"pull_request", 87, false},
    {"pull_request_comment", 88, false},
    {"pull_request_review", 89, false},
    {"pull_request_review_comment", 90, false},
    {"pull_request_target", 91, false},
    {"push", 92, false},
    {"registry_package", 93, false},
    {"release", 94, false},
    {"repository_dispatch", 95, false},
    {"schedule", 96, false},
    {"status", 97, false},
    {"watch", 98, false},
    {"workflow_call", 99, false},
    {"workflow_dispatch", 100, false},
    {"workflow_run", 101, false},
};
static const struct ex__sprop p20[] = {
    /* workflow-defaults-run */
    {"shell", 102, false},
    {"working-directory", 103, false},
};
static const struct ex__sprop p22[] = {
    /* permissions-mapping */
    {"actions", 104, false},
    {"artifact-metadata", 104, false},
    {"attestations", 104, false},
    {"checks", 104, false},
    {"contents", 104, false},
    {"deployments", 104, false},
    {"discussions", 104, false},
    {"id-token", 105, false},
    {"issues", 104, false},
    {"models", 106, false},
    {"packages", 104, false},
    {"pages", 104, false},
    {"pull-requests", 104, false},
    {"repository-projects", 104, false},
    {"security-events", 104, false},
    {"statuses", 104, false},
    {"vulnerability-alerts", 106, false},
};
static const struct ex__sprop p25[] = {
    /* concurrency-mapping */
    {"group", 21, true},
    {"cancel-in-progress", 12, false},
};
static const unsigned short o27[] = {107, 108};       /* job */
static const unsigned short o65[] = {11, 109};        /* branch-protection-rule */
static const unsigned short o66[] = {11, 110};        /* check-run */
static const unsigned short o67[] = {11, 111};        /* check-suite */
static const unsigned short o72[] = {11, 112};        /* discussion */
static const unsigned short o73[] = {11, 113};        /* discussion-comment */
static const unsigned short o76[] = {11, 114};        /* image-version */
static const unsigned short o77[] = {11, 115};        /* issue-comment */
static const unsigned short o78[] = {11, 116};        /* issues */
static const unsigned short o79[] = {11, 117};        /* label */
static const unsigned short o80[] = {11, 118};        /* merge-group */
static const unsigned short o81[] = {11, 119};        /* milestone */
static const unsigned short o83[] = {11, 120};        /* project */
static const unsigned short o84[] = {11, 121};        /* project-card */
static const unsigned short o85[] = {11, 122};        /* project-column */
static const unsigned short o87[] = {11, 123};        /* pull-request */
static const unsigned short o88[] = {11, 115};        /* pull-request-comment */
static const unsigned short o89[] = {11, 124};        /* pull-request-review */
static const unsigned short o90[] = {11, 125};        /* pull-request-review-comment */
static const unsigned short o91[] = {11, 126};        /* pull-request-target */
static const unsigned short o92[] = {11, 127};        /* push */
static const unsigned short o93[] = {11, 128};        /* registry-package */
static const unsigned short o94[] = {11, 129};        /* release */
static const unsigned short o95[] = {11, 130};        /* repository-dispatch */
static const unsigned short o98[] = {11, 132};        /* watch */
static const unsigned short o99[] = {11, 133};        /* workflow-call */
static const unsigned short o100[] = {11, 134};       /* workflow-dispatch */
static const unsigned short o101[] = {11, 135};       /* workflow-run */
static const unsigned short o104[] = {136, 137, 138}; /* permission-level-any */
static const unsigned short o105[] = {137, 138};      /* permission-level-write-or-no-access */
static const unsigned short o106[] = {136, 138};      /* permission-level-read-or-no-access */
static const struct ex__sprop p107[] = {
    /* job-factory */
    {"needs", 139, false},
    {"if", 140, false},
    {"strategy", 141, false},
    {"name", 142, false},
    {"runs-on", 143, true},
    {"timeout-minutes", 144, false},
    {"cancel-timeout-minutes", 144, false},
    {"continue-on-error", 145, false},
    {"container", 146, false},
    {"services", 147, false},
    {"env", 148, false},
    {"environment", 149, false},
    {"permissions", 8, false},
    {"concurrency", 150, false},
    {"outputs", 151, false},
    {"defaults", 152, false},
    {"steps", 153, false},
    {"snapshot", 154, false},
};
static const struct ex__sprop p108[] = {
    /* workflow-job */
    {"name", 142, false},      {"uses", 21, true},          {"with", 155, false},
    {"secrets", 156, false},   {"needs", 139, false},       {"if", 140, false},
    {"permissions", 8, false}, {"concurrency", 150, false}, {"strategy", 141, false},
};
static const struct ex__sprop p109[] = {
    /* branch-protection-rule-mapping */
    {"types", 157, false},
};
static const struct ex__sprop p110[] = {
    /* check-run-mapping */
    {"types", 158, false},
};
static const struct ex__sprop p111[] = {
    /* check-suite-mapping */
    {"types", 159, false},
};
static const struct ex__sprop p112[] = {
    /* discussion-mapping */
    {"types", 160, false},
};
static const struct ex__sprop p113[] = {
    /* discussion-comment-mapping */
    {"types", 161, false},
};
static const struct ex__sprop p114[] = {
    /* image-version-mapping */
    {"types", 162, false},
    {"names", 163, false},
    {"versions", 164, false},
};
static const struct ex__sprop p115[] = {
    /* issue-comment-mapping */
    {"types", 165, false},
};
static const struct ex__sprop p116[] = {
    /* issues-mapping */
    {"types", 166, false},
};
static const struct ex__sprop p117[] = {
    /* label-mapping */
    {"types", 167, false},
};
static const struct ex__sprop p118[] = {
    /* merge-group-mapping */
    {"types", 168, false},
};
static const struct ex__sprop p119[] = {
    /* milestone-mapping */
    {"types", 169, false},
};
static const struct ex__sprop p120[] = {
    /* project-mapping */
    {"types", 170, false},
};
static const struct ex__sprop p121[] = {
    /* project-card-mapping */
    {"types", 171, false},
};
static const struct ex__sprop p122[] = {
    /* project-column-mapping */
    {"types", 172, false},
};
static const struct ex__sprop p123[] = {
    /* pull-request-mapping */
    {"types", 173, false}, {"branches", 174, false},     {"branches-ignore", 175, false},
    {"paths", 176, false}, {"paths-ignore", 177, false},
};
static const struct ex__sprop p124[] = {
    /* pull-request-review-mapping */
    {"types", 178, false},
};
static const struct ex__sprop p125[] = {
    /* pull-request-review-comment-mapping */
    {"types", 179, false},
};
static const struct ex__sprop p126[] = {
    /* pull-request-target-mapping */
    {"types", 180, false}, {"branches", 174, false},     {"branches-ignore", 175, false},
    {"paths", 176, false}, {"paths-ignore", 177, false},
};
static const struct ex__sprop p127[] = {
    /* push-mapping */
    {"branches", 174, false},    {"branches-ignore", 175, false}, {"tags", 181, false},
    {"tags-ignore", 182, false}, {"paths", 176, false},           {"paths-ignore", 177, false},
};
static const struct ex__sprop p128[] = {
    /* registry-package-mapping */
    {"types", 183, false},
};
static const struct ex__sprop p129[] = {
    /* release-mapping */
    {"types", 184, false},
};
static const struct ex__sprop p130[] = {
    /* repository-dispatch-mapping */
    {"types", 185, false},
};
static const struct ex__sprop p131[] = {
    /* cron-mapping */
    {"cron", 186, false},
    {"timezone", 21, false},
};
static const struct ex__sprop p132[] = {
    /* watch-mapping */
    {"types", 187, false},
};
static const struct ex__sprop p133[] = {
    /* workflow-call-mapping */
    {"inputs", 188, false},
    {"secrets", 189, false},
    {"outputs", 190, false},
};
static const struct ex__sprop p134[] = {
    /* workflow-dispatch-mapping */
    {"inputs", 191, false},
};
static const struct ex__sprop p135[] = {
    /* workflow-run-mapping */
    {"types", 192, false},
    {"workflows", 193, false},
    {"branches", 174, false},
    {"branches-ignore", 175, false},
};
static const unsigned short o139[] = {185, 21}; /* needs */
static const struct ex__sprop p141[] = {
    /* strategy */
    {"fail-fast", 12, false},
    {"max-parallel", 13, false},
    {"matrix", 194, false},
};
static const unsigned short o143[] = {21, 185, 195}; /* runs-on */
static const unsigned short o146[] = {14, 196};      /* container */
static const unsigned short o149[] = {14, 198};      /* job-environment */
static const unsigned short o150[] = {21, 25};       /* job-concurrency */
static const struct ex__sprop p152[] = {
    /* job-defaults */
    {"run", 200, false},
};
static const unsigned short o154[] = {202, 203}; /* snapshot */
static const unsigned short o156[] = {205, 206}; /* workflow-job-secrets */
static const unsigned short o157[] = {207, 208}; /* branch-protection-rule-activity */
static const unsigned short o158[] = {209, 210}; /* check-run-activity */
static const unsigned short o159[] = {211, 212}; /* check-suite-activity */
static const unsigned short o160[] = {213, 214}; /* discussion-activity */
static const unsigned short o161[] = {215, 216}; /* discussion-comment-activity */
static const unsigned short o162[] = {217, 218}; /* image-version-activity */
static const unsigned short o163[] = {21, 185};  /* event-names */
static const unsigned short o164[] = {21, 185};  /* event-versions */
static const unsigned short o165[] = {219, 220}; /* issue-comment-activity */
static const unsigned short o166[] = {221, 222}; /* issues-activity */
static const unsigned short o167[] = {223, 224}; /* label-activity */
static const unsigned short o168[] = {225, 226}; /* merge-group-activity */
static const unsigned short o169[] = {227, 228}; /* milestone-activity */
static const unsigned short o170[] = {229, 230}; /* project-activity */
static const unsigned short o171[] = {231, 232}; /* project-card-activity */
static const unsigned short o172[] = {233, 234}; /* project-column-activity */
static const unsigned short o173[] = {235, 236}; /* pull-request-activity */
static const unsigned short o174[] = {21, 185};  /* event-branches */
static const unsigned short o175[] = {21, 185};  /* event-branches-ignore */
static const unsigned short o176[] = {21, 185};  /* event-paths */
static const unsigned short o177[] = {21, 185};  /* event-paths-ignore */
static const unsigned short o178[] = {237, 238}; /* pull-request-review-activity */
static const unsigned short o179[] = {239, 240}; /* pull-request-review-comment-activity */
static const unsigned short o180[] = {241, 242}; /* pull-request-target-activity */
static const unsigned short o181[] = {21, 185};  /* event-tags */
static const unsigned short o182[] = {21, 185};  /* event-tags-ignore */
static const unsigned short o183[] = {243, 244}; /* registry-package-activity */
static const unsigned short o184[] = {245, 246}; /* release-activity */
static const unsigned short o187[] = {247, 248}; /* watch-activity */
static const unsigned short o192[] = {256, 257}; /* workflow-run-activity */
static const unsigned short o193[] = {21, 185};  /* workflow-run-workflows */
static const struct ex__sprop p194[] = {
    /* matrix */
    {"include", 258, false},
    {"exclude", 258, false},
};
static const struct ex__sprop p195[] = {
    /* runs-on-mapping */
    {"group", 21, false},
    {"labels", 259, false},
};
static const struct ex__sprop p196[] = {
    /* container-mapping */
    {"image", 14, false},  {"options", 14, false},  {"env", 260, false},
    {"ports", 185, false}, {"volumes", 185, false}, {"credentials", 261, false},
};
static const unsigned short o197[] = {14, 262}; /* services-container */
static const struct ex__sprop p198[] = {
    /* job-environment-mapping */
    {"name", 263, true},
    {"url", 264, false},
    {"deployment", 12, false},
};
static const struct ex__sprop p200[] = {
    /* job-defaults-run */
    {"shell", 102, false},
    {"working-directory", 103, false},
};
static const unsigned short o201[] = {265, 266}; /* steps-item */
static const struct ex__sprop p203[] = {
    /* snapshot-mapping */
    {"image-name", 202, true},
    {"if", 267, false},
    {"version", 21, false},
};
static const unsigned short o204[] = {14, 12, 13}; /* scalar-needs-context */
static const char *const a207[] = {"created", "edited", "deleted", NULL};
static const char *const a209[] = {"completed", "created", "rerequested", "requested_action", NULL};
static const char *const a211[] = {"completed", NULL};
static const char *const a213[] = {
    "created",   "edited", "deleted",  "transferred",      "pinned",   "unpinned",   "labeled",
    "unlabeled", "locked", "unlocked", "category_changed", "answered", "unanswered", NULL};
static const char *const a215[] = {"created", "edited", "deleted", NULL};
static const char *const a217[] = {"created", "ready", "deleted", NULL};
static const char *const a219[] = {"created", "edited", "deleted", NULL};
static const char *const a221[] = {
    "opened", "edited",   "deleted",    "transferred",  "pinned",  "unpinned",
    "closed", "reopened", "assigned",   "unassigned",   "labeled", "unlabeled",
    "locked", "unlocked", "milestoned", "demilestoned", NULL};
static const char *const a223[] = {"created", "edited", "deleted", NULL};
static const char *const a225[] = {"checks_requested", NULL};
static const char *const a227[] = {"created", "closed", "opened", "edited", "deleted", NULL};
static const char *const a229[] = {"created", "closed", "reopened", "edited", "deleted", NULL};
static const char *const a231[] = {"created", "moved", "converted", "edited", "deleted", NULL};
static const char *const a233[] = {"created", "updated", "moved", "deleted", NULL};
static const char *const a235[] = {"assigned",
                                   "unassigned",
                                   "labeled",
                                   "unlabeled",
                                   "opened",
                                   "edited",
                                   "closed",
                                   "reopened",
                                   "synchronize",
                                   "converted_to_draft",
                                   "ready_for_review",
                                   "locked",
                                   "unlocked",
                                   "review_requested",
                                   "review_request_removed",
                                   "auto_merge_enabled",
                                   "auto_merge_disabled",
                                   NULL};
static const char *const a237[] = {"submitted", "edited", "dismissed", NULL};
static const char *const a239[] = {"created", "edited", "deleted", NULL};
static const char *const a241[] = {"assigned",
                                   "unassigned",
                                   "labeled",
                                   "unlabeled",
                                   "opened",
                                   "edited",
                                   "closed",
                                   "reopened",
                                   "synchronize",
                                   "converted_to_draft",
                                   "ready_for_review",
                                   "locked",
                                   "unlocked",
                                   "review_requested",
                                   "review_request_removed",
                                   "auto_merge_enabled",
                                   "auto_merge_disabled",
                                   NULL};
static const char *const a243[] = {"published", "updated", NULL};
static const char *const a245[] = {"published", "unpublished", "created",  "edited",
                                   "deleted",   "prereleased", "released", NULL};
static const char *const a247[] = {"started", NULL};
static const struct ex__sprop p249[] = {
    /* workflow-call-input-definition */
    {"description", 14, false},
    {"type", 269, false},
    {"required", 12, false},
    {"default", 270, false},
};
static const unsigned short o251[] = {11, 271}; /* workflow-call-secret-definition */
static const struct ex__sprop p253[] = {
    /* workflow-call-output-definition */
    {"description", 14, false},
    {"value", 272, true},
};
static const struct ex__sprop p255[] = {
    /* workflow-dispatch-input */
    {"description", 14, false}, {"type", 273, false},    {"required", 12, false},
    {"default", 274, false},    {"options", 185, false},
};
static const char *const a256[] = {"requested", "completed", "in_progress", NULL};
static const unsigned short o259[] = {21, 185}; /* runs-on-labels */
static const struct ex__sprop p261[] = {
    /* container-registry-credentials */
    {"username", 21, false},
    {"password", 21, false},
};
static const struct ex__sprop p262[] = {
    /* service-container-mapping */
    {"image", 14, false},    {"options", 14, false},      {"entrypoint", 14, false},
    {"command", 14, false},  {"env", 260, false},         {"ports", 185, false},
    {"volumes", 185, false}, {"credentials", 261, false},
};
static const struct ex__sprop p265[] = {
    /* run-step */
    {"name", 276, false},  {"id", 277, false},
    {"if", 278, false},    {"timeout-minutes", 279, false},
    {"run", 280, true},    {"continue-on-error", 281, false},
    {"env", 282, false},   {"working-directory", 280, false},
    {"shell", 102, false},
};
static const struct ex__sprop p266[] = {
    /* regular-step */
    {"name", 276, false},
    {"id", 277, false},
    {"if", 278, false},
    {"continue-on-error", 281, false},
    {"timeout-minutes", 279, false},
    {"uses", 283, true},
    {"with", 284, false},
    {"env", 282, false},
};
static const unsigned short o268[] = {14, 12, 13};    /* scalar-needs-context-with-secrets */
static const unsigned short o269[] = {285, 286, 287}; /* workflow-call-input-type */
static const unsigned short o270[] = {14, 12, 13};    /* workflow-call-input-default */
static const struct ex__sprop p271[] = {
    /* workflow-call-secret-mapping-definition */
    {"description", 14, false},
    {"required", 12, false},
};
static const unsigned short o273[] = {285, 286, 287, 288, 289}; /* workflow-dispatch-input-type */
static const unsigned short o274[] = {14, 12, 13}; /* workflow-dispatch-input-default */

const struct ex__sdef ex__schema[] = {
    [0] = {.kind = EX__SK_MAP, .props = p0, .n_props = 9},     /* workflow-root-strict */
    [1] = {.kind = EX__SK_ONEOF, .one_of = o1, .n_one_of = 6}, /* any */
    [2] = {.kind = EX__SK_ONEOF, .one_of = o2, .n_one_of = 3}, /* on-strict */
    [3] = {.kind = EX__SK_STRING},                             /* workflow-name */
    [4] = {.kind = EX__SK_STRING},                             /* workflow-description */
    [5] = {.kind = EX__SK_STRING,
           .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS}, /* run-name */
    [6] = {.kind = EX__SK_MAP, .props = p6, .n_props = 1},      /* workflow-defaults */
    [7] = {.kind = EX__SK_MAP,
           .loose_key = 21,
           .loose_val = 14,
           .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_SECRETS}, /* workflow-env */
    [8] = {.kind = EX__SK_ONEOF, .one_of = o8, .n_one_of = 3},                   /* permissions */
    [9] = {.kind = EX__SK_ONEOF,
           .one_of = o9,
           .n_one_of = 2,
           .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS},    /* workflow-concurrency */
    [10] = {.kind = EX__SK_MAP, .loose_key = 26, .loose_val = 27}, /* jobs */
    [11] = {.kind = EX__SK_NULL},                                  /* null */
    [12] = {.kind = EX__SK_BOOL},                                  /* boolean */
    [13] = {.kind = EX__SK_NUMBER},                                /* number */
    [14] = {.kind = EX__SK_STRING},                                /* string */
    [15] = {.kind = EX__SK_SEQ, .item = 1},                        /* sequence */
    [16] = {.kind = EX__SK_MAP, .loose_key = 14, .loose_val = 1},  /* mapping */
    [17] = {.kind = EX__SK_ONEOF, .one_of = o17, .n_one_of = 37},  /* on-string-strict */
    [18] = {.kind = EX__SK_SEQ, .item = 17},                       /* on-sequence-strict */
    [19] = {.kind = EX__SK_MAP, .props = p19, .n_props = 37},      /* on-mapping-strict */
    [20] = {.kind = EX__SK_MAP, .props = p20, .n_props = 2},       /* workflow-defaults-run */
    [21] = {.kind = EX__SK_STRING, .non_empty = true},             /* non-empty-string */
    [22] = {.kind = EX__SK_MAP, .props = p22, .n_props = 17},      /* permissions-mapping */
    [23] = {.kind = EX__SK_STRING,
            .constant = "read-all"}, /* permission-level-shorthand-read-all */
    [24] = {.kind = EX__SK_STRING,
            .constant = "write-all"}, /* permission-level-shorthand-write-all */
    [25] = {.kind = EX__SK_MAP, .props = p25, .n_props = 2},     /* concurrency-mapping */
    [26] = {.kind = EX__SK_STRING, .non_empty = true},           /* job-id */
    [27] = {.kind = EX__SK_ONEOF, .one_of = o27, .n_one_of = 2}, /* job */
    [28] = {.kind = EX__SK_STRING,
            .constant = "branch_protection_rule"},             /* branch-protection-rule-string */
    [29] = {.kind = EX__SK_STRING, .constant = "check_run"},   /* check-run-string */
    [30] = {.kind = EX__SK_STRING, .constant = "check_suite"}, /* check-suite-string */
    [31] = {.kind = EX__SK_STRING, .constant = "create"},      /* create-string */
    [32] = {.kind = EX__SK_STRING, .constant = "delete"},      /* delete-string */
    [33] = {.kind = EX__SK_STRING, .constant = "deployment"},  /* deployment-string */
    [34] = {.kind = EX__SK_STRING, .constant = "deployment_status"}, /* deployment-status-string */
    [35] = {.kind = EX__SK_STRING, .constant = "discussion"},        /* discussion-string */
    [36] = {.kind = EX__SK_STRING,
            .constant = "discussion_comment"},                    /* discussion-comment-string */
    [37] = {.kind = EX__SK_STRING, .constant = "fork"},           /* fork-string */
    [38] = {.kind = EX__SK_STRING, .constant = "gollum"},         /* gollum-string */
    [39] = {.kind = EX__SK_STRING, .constant = "image_version"},  /* image-version-string */
    [40] = {.kind = EX__SK_STRING, .constant = "issue_comment"},  /* issue-comment-string */
    [41] = {.kind = EX__SK_STRING, .constant = "issues"},         /* issues-string */
    [42] = {.kind = EX__SK_STRING, .constant = "label"},          /* label-string */
    [43] = {.kind = EX__SK_STRING, .constant = "merge_group"},    /* merge-group-string */
    [44] = {.kind = EX__SK_STRING, .constant = "milestone"},      /* milestone-string */
    [45] = {.kind = EX__SK_STRING, .constant = "page_build"},     /* page-build-string */
    [46] = {.kind = EX__SK_STRING, .constant = "project"},        /* project-string */
    [47] = {.kind = EX__SK_STRING, .constant = "project_card"},   /* project-card-string */
    [48] = {.kind = EX__SK_STRING, .constant = "project_column"}, /* project-column-string */
    [49] = {.kind = EX__SK_STRING, .constant = "public"},         /* public-string */
    [50] = {.kind = EX__SK_STRING, .constant = "pull_request"},   /* pull-request-string */
    [51] = {.kind = EX__SK_STRING,
            .constant = "pull_request_comment"}, /* pull-request-comment-string */
    [52] = {.kind = EX__SK_STRING,
            .constant = "pull_request_review"}, /* pull-request-review-string */
    [53] = {.kind = EX__SK_STRING,
            .constant = "pull_request_review_comment"}, /* pull-request-review-comment-string */
    [54] = {.kind = EX__SK_STRING,
            .constant = "pull_request_target"},                     /* pull-request-target-string */
    [55] = {.kind = EX__SK_STRING, .constant = "push"},             /* push-string */
    [56] = {.kind = EX__SK_STRING, .constant = "registry_package"}, /* registry-package-string */
    [57] = {.kind = EX__SK_STRING, .constant = "release"},          /* release-string */
    [58] = {.kind = EX__SK_STRING,
            .constant = "repository_dispatch"},                  /* repository-dispatch-string */
    [59] = {.kind = EX__SK_STRING, .constant = "schedule"},      /* schedule-string */
    [60] = {.kind = EX__SK_STRING, .constant = "status"},        /* status-string */
    [61] = {.kind = EX__SK_STRING, .constant = "watch"},         /* watch-string */
    [62] = {.kind = EX__SK_STRING, .constant = "workflow_call"}, /* workflow-call-string */
    [63] = {.kind = EX__SK_STRING, .constant = "workflow_dispatch"}, /* workflow-dispatch-string */
    [64] = {.kind = EX__SK_STRING, .constant = "workflow_run"},      /* workflow-run-string */
    [65] = {.kind = EX__SK_ONEOF, .one_of = o65, .n_one_of = 2},     /* branch-protection-rule */
    [66] = {.kind = EX__SK_ONEOF, .one_of = o66, .n_one_of = 2},     /* check-run */
    [67] = {.kind = EX__SK_ONEOF, .one_of = o67, .n_one_of = 2},     /* check-suite */
    [68] = {.kind = EX__SK_NULL},                                    /* create */
    [69] = {.kind = EX__SK_NULL},                                    /* delete */
    [70] = {.kind = EX__SK_NULL},                                    /* deployment */
    [71] = {.kind = EX__SK_NULL},                                    /* deployment-status */
    [72] = {.kind = EX__SK_ONEOF, .one_of = o72, .n_one_of = 2},     /* discussion */
    [73] = {.kind = EX__SK_ONEOF, .one_of = o73, .n_one_of = 2},     /* discussion-comment */
    [74] = {.kind = EX__SK_NULL},                                    /* fork */
    [75] = {.kind = EX__SK_NULL},                                    /* gollum */
    [76] = {.kind = EX__SK_ONEOF, .one_of = o76, .n_one_of = 2},     /* image-version */
    [77] = {.kind = EX__SK_ONEOF, .one_of = o77, .n_one_of = 2},     /* issue-comment */
    [78] = {.kind = EX__SK_ONEOF, .one_of = o78, .n_one_of = 2},     /* issues */
    [79] = {.kind = EX__SK_ONEOF, .one_of = o79, .n_one_of = 2},     /* label */
    [80] = {.kind = EX__SK_ONEOF, .one_of = o80, .n_one_of = 2},     /* merge-group */
    [81] = {.kind = EX__SK_ONEOF, .one_of = o81, .n_one_of = 2},     /* milestone */
    [82] = {.kind = EX__SK_NULL},                                    /* page-build */
    [83] = {.kind = EX__SK_ONEOF, .one_of = o83, .n_one_of = 2},     /* project */
    [84] = {.kind = EX__SK_ONEOF, .one_of = o84, .n_one_of = 2},     /* project-card */
    [85] = {.kind = EX__SK_ONEOF, .one_of = o85, .n_one_of = 2},     /* project-column */
    [86] = {.kind = EX__SK_NULL},                                    /* public */
    [87] = {.kind = EX__SK_ONEOF, .one_of = o87, .n_one_of = 2},     /* pull-request */
    [88] = {.kind = EX__SK_ONEOF, .one_of = o88, .n_one_of = 2},     /* pull-request-comment */
    [89] = {.kind = EX__SK_ONEOF, .one_of = o89, .n_one_of = 2},     /* pull-request-review */
    [90] = {.kind = EX__SK_ONEOF, .one_of = o90, .n_one_of = 2},   /* pull-request-review-comment */
    [91] = {.kind = EX__SK_ONEOF, .one_of = o91, .n_one_of = 2},   /* pull-request-target */
    [92] = {.kind = EX__SK_ONEOF, .one_of = o92, .n_one_of = 2},   /* push */
    [93] = {.kind = EX__SK_ONEOF, .one_of = o93, .n_one_of = 2},   /* registry-package */
    [94] = {.kind = EX__SK_ONEOF, .one_of = o94, .n_one_of = 2},   /* release */
    [95] = {.kind = EX__SK_ONEOF, .one_of = o95, .n_one_of = 2},   /* repository-dispatch */
    [96] = {.kind = EX__SK_SEQ, .item = 131},                      /* schedule */
    [97] = {.kind = EX__SK_NULL},                                  /* status */
    [98] = {.kind = EX__SK_ONEOF, .one_of = o98, .n_one_of = 2},   /* watch */
    [99] = {.kind = EX__SK_ONEOF, .one_of = o99, .n_one_of = 2},   /* workflow-call */
    [100] = {.kind = EX__SK_ONEOF, .one_of = o100, .n_one_of = 2}, /* workflow-dispatch */
    [101] = {.kind = EX__SK_ONEOF, .one_of = o101, .n_one_of = 2}, /* workflow-run */
    [102] = {.kind = EX__SK_STRING, .non_empty = true},            /* shell */
    [103] = {.kind = EX__SK_STRING, .non_empty = true},            /* working-directory */
    [104] = {.kind = EX__SK_ONEOF, .one_of = o104, .n_one_of = 3}, /* permission-level-any */
    [105] = {.kind = EX__SK_ONEOF,
             .one_of = o105,
             .n_one_of = 2}, /* permission-level-write-or-no-access */
    [106] = {.kind = EX__SK_ONEOF,
             .one_of = o106,
             .n_one_of = 2}, /* permission-level-read-or-no-access */
    [107] = {.kind = EX__SK_MAP, .props = p107, .n_props = 18}, /* job-factory */
    [108] = {.kind = EX__SK_MAP, .props = p108, .n_props = 9},  /* workflow-job */
    [109] = {.kind = EX__SK_MAP, .props = p109, .n_props = 1},  /* branch-protection-rule-mapping */
    [110] = {.kind = EX__SK_MAP, .props = p110, .n_props = 1},  /* check-run-mapping */
    [111] = {.kind = EX__SK_MAP, .props = p111, .n_props = 1},  /* check-suite-mapping */
    [112] = {.kind = EX__SK_MAP, .props = p112, .n_props = 1},  /* discussion-mapping */
    [113] = {.kind = EX__SK_MAP, .props = p113, .n_props = 1},  /* discussion-comment-mapping */
    [114] = {.kind = EX__SK_MAP, .props = p114, .n_props = 3},  /* image-version-mapping */
    [115] = {.kind = EX__SK_MAP, .props = p115, .n_props = 1},  /* issue-comment-mapping */
    [116] = {.kind = EX__SK_MAP, .props = p116, .n_props = 1},  /* issues-mapping */
    [117] = {.kind = EX__SK_MAP, .props = p117, .n_props = 1},  /* label-mapping */
    [118] = {.kind = EX__SK_MAP, .props = p118, .n_props = 1},  /* merge-group-mapping */
    [119] = {.kind = EX__SK_MAP, .props = p119, .n_props = 1},  /* milestone-mapping */
    [120] = {.kind = EX__SK_MAP, .props = p120, .n_props = 1},  /* project-mapping */
    [121] = {.kind = EX__SK_MAP, .props = p121, .n_props = 1},  /* project-card-mapping */
    [122] = {.kind = EX__SK_MAP, .props = p122, .n_props = 1},  /* project-column-mapping */
    [123] = {.kind = EX__SK_MAP, .props = p123, .n_props = 5},  /* pull-request-mapping */
    [124] = {.kind = EX__SK_MAP, .props = p124, .n_props = 1},  /* pull-request-review-mapping */
    [125] = {.kind = EX__SK_MAP,
             .props = p125,
             .n_props = 1}, /* pull-request-review-comment-mapping */
    [126] = {.kind = EX__SK_MAP, .props = p126, .n_props = 5},     /* pull-request-target-mapping */
    [127] = {.kind = EX__SK_MAP, .props = p127, .n_props = 6},     /* push-mapping */
    [128] = {.kind = EX__SK_MAP, .props = p128, .n_props = 1},     /* registry-package-mapping */
    [129] = {.kind = EX__SK_MAP, .props = p129, .n_props = 1},     /* release-mapping */
    [130] = {.kind = EX__SK_MAP, .props = p130, .n_props = 1},     /* repository-dispatch-mapping */
    [131] = {.kind = EX__SK_MAP, .props = p131, .n_props = 2},     /* cron-mapping */
    [132] = {.kind = EX__SK_MAP, .props = p132, .n_props = 1},     /* watch-mapping */
    [133] = {.kind = EX__SK_MAP, .props = p133, .n_props = 3},     /* workflow-call-mapping */
    [134] = {.kind = EX__SK_MAP, .props = p134, .n_props = 1},     /* workflow-dispatch-mapping */
    [135] = {.kind = EX__SK_MAP, .props = p135, .n_props = 4},     /* workflow-run-mapping */
    [136] = {.kind = EX__SK_STRING, .constant = "read"},           /* permission-level-read */
    [137] = {.kind = EX__SK_STRING, .constant = "write"},          /* permission-level-write */
    [138] = {.kind = EX__SK_STRING, .constant = "none"},           /* permission-level-no-access */
    [139] = {.kind = EX__SK_ONEOF, .one_of = o139, .n_one_of = 2}, /* needs */
    [140] = {.kind = EX__SK_STRING,
             .is_expr = true,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS,
             .fn = EX_FN_STATUS}, /* job-if */
    [141] = {.kind = EX__SK_MAP,
             .props = p141,
             .n_props = 3,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS}, /* strategy */
    [142] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* string-strategy-context */
    [143] = {.kind = EX__SK_ONEOF,
             .one_of = o143,
             .n_one_of = 3,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* runs-on */
    [144] = {.kind = EX__SK_NUMBER,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* number-strategy-context */
    [145] = {.kind = EX__SK_BOOL,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* boolean-strategy-context */
    [146] = {.kind = EX__SK_ONEOF,
             .one_of = o146,
             .n_one_of = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* container */
    [147] = {.kind = EX__SK_MAP,
             .loose_key = 21,
             .loose_val = 197,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* services */
    [148] = {.kind = EX__SK_MAP,
             .loose_key = 21,
             .loose_val = 14,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS}, /* job-env */
    [149] = {.kind = EX__SK_ONEOF,
             .one_of = o149,
             .n_one_of = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* job-environment */
    [150] = {.kind = EX__SK_ONEOF,
             .one_of = o150,
             .n_one_of = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX},                                  /* job-concurrency */
    [151] = {.kind = EX__SK_MAP, .loose_key = 21, .loose_val = 199}, /* job-outputs */
    [152] = {.kind = EX__SK_MAP, .props = p152, .n_props = 1},       /* job-defaults */
    [153] = {.kind = EX__SK_SEQ, .item = 201},                       /* steps */
    [154] = {.kind = EX__SK_ONEOF,
             .one_of = o154,
             .n_one_of = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX},                                  /* snapshot */
    [155] = {.kind = EX__SK_MAP, .loose_key = 21, .loose_val = 204}, /* workflow-job-with */
    [156] = {.kind = EX__SK_ONEOF, .one_of = o156, .n_one_of = 2},   /* workflow-job-secrets */
    [157] = {.kind = EX__SK_ONEOF,
             .one_of = o157,
             .n_one_of = 2}, /* branch-protection-rule-activity */
    [158] = {.kind = EX__SK_ONEOF, .one_of = o158, .n_one_of = 2}, /* check-run-activity */
    [159] = {.kind = EX__SK_ONEOF, .one_of = o159, .n_one_of = 2}, /* check-suite-activity */
    [160] = {.kind = EX__SK_ONEOF, .one_of = o160, .n_one_of = 2}, /* discussion-activity */
    [161] = {.kind = EX__SK_ONEOF, .one_of = o161, .n_one_of = 2}, /* discussion-comment-activity */
    [162] = {.kind = EX__SK_ONEOF, .one_of = o162, .n_one_of = 2}, /* image-version-activity */
    [163] = {.kind = EX__SK_ONEOF, .one_of = o163, .n_one_of = 2}, /* event-names */
    [164] = {.kind = EX__SK_ONEOF, .one_of = o164, .n_one_of = 2}, /* event-versions */
    [165] = {.kind = EX__SK_ONEOF, .one_of = o165, .n_one_of = 2}, /* issue-comment-activity */
    [166] = {.kind = EX__SK_ONEOF, .one_of = o166, .n_one_of = 2}, /* issues-activity */
    [167] = {.kind = EX__SK_ONEOF, .one_of = o167, .n_one_of = 2}, /* label-activity */
    [168] = {.kind = EX__SK_ONEOF, .one_of = o168, .n_one_of = 2}, /* merge-group-activity */
    [169] = {.kind = EX__SK_ONEOF, .one_of = o169, .n_one_of = 2}, /* milestone-activity */
    [170] = {.kind = EX__SK_ONEOF, .one_of = o170, .n_one_of = 2}, /* project-activity */
    [171] = {.kind = EX__SK_ONEOF, .one_of = o171, .n_one_of = 2}, /* project-card-activity */
    [172] = {.kind = EX__SK_ONEOF, .one_of = o172, .n_one_of = 2}, /* project-column-activity */
    [173] = {.kind = EX__SK_ONEOF, .one_of = o173, .n_one_of = 2}, /* pull-request-activity */
    [174] = {.kind = EX__SK_ONEOF, .one_of = o174, .n_one_of = 2}, /* event-branches */
    [175] = {.kind = EX__SK_ONEOF, .one_of = o175, .n_one_of = 2}, /* event-branches-ignore */
    [176] = {.kind = EX__SK_ONEOF, .one_of = o176, .n_one_of = 2}, /* event-paths */
    [177] = {.kind = EX__SK_ONEOF, .one_of = o177, .n_one_of = 2}, /* event-paths-ignore */
    [178] = {.kind = EX__SK_ONEOF,
             .one_of = o178,
             .n_one_of = 2}, /* pull-request-review-activity */
    [179] = {.kind = EX__SK_ONEOF,
             .one_of = o179,
             .n_one_of = 2}, /* pull-request-review-comment-activity */
    [180] = {.kind = EX__SK_ONEOF,
             .one_of = o180,
             .n_one_of = 2}, /* pull-request-target-activity */
    [181] = {.kind = EX__SK_ONEOF, .one_of = o181, .n_one_of = 2}, /* event-tags */
    [182] = {.kind = EX__SK_ONEOF, .one_of = o182, .n_one_of = 2}, /* event-tags-ignore */
    [183] = {.kind = EX__SK_ONEOF, .one_of = o183, .n_one_of = 2}, /* registry-package-activity */
    [184] = {.kind = EX__SK_ONEOF, .one_of = o184, .n_one_of = 2}, /* release-activity */
    [185] = {.kind = EX__SK_SEQ, .item = 21},           /* sequence-of-non-empty-string */
    [186] = {.kind = EX__SK_STRING, .non_empty = true}, /* cron-pattern */
    [187] = {.kind = EX__SK_ONEOF, .one_of = o187, .n_one_of = 2},    /* watch-activity */
    [188] = {.kind = EX__SK_MAP, .loose_key = 21, .loose_val = 249},  /* workflow-call-inputs */
    [189] = {.kind = EX__SK_MAP, .loose_key = 250, .loose_val = 251}, /* workflow-call-secrets */
    [190] = {.kind = EX__SK_MAP, .loose_key = 252, .loose_val = 253}, /* workflow-call-outputs */
    [191] = {.kind = EX__SK_MAP, .loose_key = 254, .loose_val = 255}, /* workflow-dispatch-inputs */
    [192] = {.kind = EX__SK_ONEOF, .one_of = o192, .n_one_of = 2},    /* workflow-run-activity */
    [193] = {.kind = EX__SK_ONEOF, .one_of = o193, .n_one_of = 2},    /* workflow-run-workflows */
    [194] = {.kind = EX__SK_MAP,
             .props = p194,
             .n_props = 2,
             .loose_key = 21,
             .loose_val = 15},                                 /* matrix */
    [195] = {.kind = EX__SK_MAP, .props = p195, .n_props = 2}, /* runs-on-mapping */
    [196] = {.kind = EX__SK_MAP, .props = p196, .n_props = 6}, /* container-mapping */
    [197] = {.kind = EX__SK_ONEOF,
             .one_of = o197,
             .n_one_of = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX},                            /* services-container */
    [198] = {.kind = EX__SK_MAP, .props = p198, .n_props = 3}, /* job-environment-mapping */
    [199] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV}, /* string-runner-context */
    [200] = {.kind = EX__SK_MAP,
             .props = p200,
             .n_props = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_STRATEGY | EX_CTX_MATRIX |
                    EX_CTX_NEEDS | EX_CTX_ENV},                    /* job-defaults-run */
    [201] = {.kind = EX__SK_ONEOF, .one_of = o201, .n_one_of = 2}, /* steps-item */
    [202] = {.kind = EX__SK_STRING, .non_empty = true},            /* snapshot-image-name */
    [203] = {.kind = EX__SK_MAP, .props = p203, .n_props = 3},     /* snapshot-mapping */
    [204] = {.kind = EX__SK_ONEOF,
             .one_of = o204,
             .n_one_of = 3,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* scalar-needs-context */
    [205] = {.kind = EX__SK_MAP,
             .loose_key = 21,
             .loose_val = 268},                             /* workflow-job-secrets-mapping */
    [206] = {.kind = EX__SK_STRING, .constant = "inherit"}, /* workflow-job-secrets-inherit */
    [207] = {.kind = EX__SK_STRING, .allowed = a207}, /* branch-protection-rule-activity-type */
    [208] = {.kind = EX__SK_SEQ, .item = 207},        /* branch-protection-rule-activity-types */
    [209] = {.kind = EX__SK_STRING, .allowed = a209}, /* check-run-activity-type */
    [210] = {.kind = EX__SK_SEQ, .item = 209},        /* check-run-activity-types */
    [211] = {.kind = EX__SK_STRING, .allowed = a211}, /* check-suite-activity-type */
    [212] = {.kind = EX__SK_SEQ, .item = 211},        /* check-suite-activity-types */
    [213] = {.kind = EX__SK_STRING, .allowed = a213}, /* discussion-activity-type */
    [214] = {.kind = EX__SK_SEQ, .item = 213},        /* discussion-activity-types */
    [215] = {.kind = EX__SK_STRING, .allowed = a215}, /* discussion-comment-activity-type */
    [216] = {.kind = EX__SK_SEQ, .item = 215},        /* discussion-comment-activity-types */
    [217] = {.kind = EX__SK_STRING, .allowed = a217}, /* image-version-activity-type */
    [218] = {.kind = EX__SK_SEQ, .item = 217},        /* image-version-activity-types */
    [219] = {.kind = EX__SK_STRING, .allowed = a219}, /* issue-comment-activity-type */
    [220] = {.kind = EX__SK_SEQ, .item = 219},        /* issue-comment-activity-types */
    [221] = {.kind = EX__SK_STRING, .allowed = a221}, /* issues-activity-type */
    [222] = {.kind = EX__SK_SEQ, .item = 221},        /* issues-activity-types */
    [223] = {.kind = EX__SK_STRING, .allowed = a223}, /* label-activity-type */
    [224] = {.kind = EX__SK_SEQ, .item = 223},        /* label-activity-types */
    [225] = {.kind = EX__SK_STRING, .allowed = a225}, /* merge-group-activity-type */
    [226] = {.kind = EX__SK_SEQ, .item = 225},        /* merge-group-activity-types */
    [227] = {.kind = EX__SK_STRING, .allowed = a227}, /* milestone-activity-type */
    [228] = {.kind = EX__SK_SEQ, .item = 227},        /* milestone-activity-types */
    [229] = {.kind = EX__SK_STRING, .allowed = a229}, /* project-activity-type */
    [230] = {.kind = EX__SK_SEQ, .item = 229},        /* project-activity-types */
    [231] = {.kind = EX__SK_STRING, .allowed = a231}, /* project-card-activity-type */
    [232] = {.kind = EX__SK_SEQ, .item = 231},        /* project-card-activity-types */
    [233] = {.kind = EX__SK_STRING, .allowed = a233}, /* project-column-activity-type */
    [234] = {.kind = EX__SK_SEQ, .item = 233},        /* project-column-activity-types */
    [235] = {.kind = EX__SK_STRING, .allowed = a235}, /* pull-request-activity-type */
    [236] = {.kind = EX__SK_SEQ, .item = 235},        /* pull-request-activity-types */
    [237] = {.kind = EX__SK_STRING, .allowed = a237}, /* pull-request-review-activity-type */
    [238] = {.kind = EX__SK_SEQ, .item = 237},        /* pull-request-review-activity-types */
    [239] = {.kind = EX__SK_STRING,
             .allowed = a239},                 /* pull-request-review-comment-activity-type */
    [240] = {.kind = EX__SK_SEQ, .item = 239}, /* pull-request-review-comment-activity-types */
    [241] = {.kind = EX__SK_STRING, .allowed = a241}, /* pull-request-target-activity-type */
    [242] = {.kind = EX__SK_SEQ, .item = 241},        /* pull-request-target-activity-types */
    [243] = {.kind = EX__SK_STRING, .allowed = a243}, /* registry-package-activity-type */
    [244] = {.kind = EX__SK_SEQ, .item = 243},        /* registry-package-activity-types */
    [245] = {.kind = EX__SK_STRING, .allowed = a245}, /* release-activity-type */
    [246] = {.kind = EX__SK_SEQ, .item = 245},        /* release-activity-types */
    [247] = {.kind = EX__SK_STRING, .allowed = a247}, /* watch-activity-type */
    [248] = {.kind = EX__SK_SEQ, .item = 247},        /* watch-activity-types */
    [249] = {.kind = EX__SK_MAP, .props = p249, .n_props = 4}, /* workflow-call-input-definition */
    [250] = {.kind = EX__SK_STRING, .non_empty = true},        /* workflow-call-secret-name */
    [251] = {.kind = EX__SK_ONEOF,
             .one_of = o251,
             .n_one_of = 2},                                   /* workflow-call-secret-definition */
    [252] = {.kind = EX__SK_STRING, .non_empty = true},        /* workflow-call-output-name */
    [253] = {.kind = EX__SK_MAP, .props = p253, .n_props = 2}, /* workflow-call-output-definition */
    [254] = {.kind = EX__SK_STRING, .non_empty = true},        /* workflow-dispatch-input-name */
    [255] = {.kind = EX__SK_MAP, .props = p255, .n_props = 5}, /* workflow-dispatch-input */
    [256] = {.kind = EX__SK_STRING, .allowed = a256},          /* workflow-run-activity-type */
    [257] = {.kind = EX__SK_SEQ, .item = 256},                 /* workflow-run-activity-types */
    [258] = {.kind = EX__SK_SEQ, .item = 275},                 /* matrix-filter */
    [259] = {.kind = EX__SK_ONEOF, .one_of = o259, .n_one_of = 2},   /* runs-on-labels */
    [260] = {.kind = EX__SK_MAP, .loose_key = 21, .loose_val = 199}, /* container-env */
    [261] = {.kind = EX__SK_MAP,
             .props = p261,
             .n_props = 2,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_SECRETS |
                    EX_CTX_ENV},                               /* container-registry-credentials */
    [262] = {.kind = EX__SK_MAP, .props = p262, .n_props = 8}, /* service-container-mapping */
    [263] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX}, /* job-environment-name */
    [264] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV}, /* string-runner-context-no-secrets */
    [265] = {.kind = EX__SK_MAP, .props = p265, .n_props = 9}, /* run-step */
    [266] = {.kind = EX__SK_MAP, .props = p266, .n_props = 8}, /* regular-step */
    [267] = {.kind = EX__SK_STRING,
             .is_expr = true,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER | EX_CTX_ENV,
             .fn = EX_FN_HASHFILES | EX_FN_STATUS}, /* snapshot-if */
    [268] = {.kind = EX__SK_ONEOF,
             .one_of = o268,
             .n_one_of = 3,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_SECRETS |
                    EX_CTX_STRATEGY | EX_CTX_MATRIX}, /* scalar-needs-context-with-secrets */
    [269] = {.kind = EX__SK_ONEOF, .one_of = o269, .n_one_of = 3}, /* workflow-call-input-type */
    [270] = {.kind = EX__SK_ONEOF,
             .one_of = o270,
             .n_one_of = 3,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS}, /* workflow-call-input-default */
    [271] = {.kind = EX__SK_MAP,
             .props = p271,
             .n_props = 2}, /* workflow-call-secret-mapping-definition */
    [272] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS |
                    EX_CTX_JOBS}, /* workflow-output-context */
    [273] = {.kind = EX__SK_ONEOF,
             .one_of = o273,
             .n_one_of = 5}, /* workflow-dispatch-input-type */
    [274] = {.kind = EX__SK_ONEOF,
             .one_of = o274,
             .n_one_of = 3}, /* workflow-dispatch-input-default */
    [275] = {.kind = EX__SK_MAP, .loose_key = 21, .loose_val = 1}, /* matrix-filter-item */
    [276] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES},                    /* step-name */
    [277] = {.kind = EX__SK_STRING, .non_empty = true}, /* step-id */
    [278] = {.kind = EX__SK_STRING,
             .is_expr = true,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER | EX_CTX_ENV,
             .fn = EX_FN_HASHFILES | EX_FN_STATUS}, /* step-if */
    [279] = {.kind = EX__SK_NUMBER,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES}, /* step-timeout-minutes */
    [280] = {.kind = EX__SK_STRING,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES}, /* string-steps-context */
    [281] = {.kind = EX__SK_BOOL,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES}, /* step-continue-on-error */
    [282] = {.kind = EX__SK_MAP,
             .loose_key = 21,
             .loose_val = 14,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES},                    /* step-env */
    [283] = {.kind = EX__SK_STRING, .non_empty = true}, /* step-uses */
    [284] = {.kind = EX__SK_MAP,
             .loose_key = 21,
             .loose_val = 14,
             .ctx = EX_CTX_GITHUB | EX_CTX_INPUTS | EX_CTX_VARS | EX_CTX_NEEDS | EX_CTX_STRATEGY |
                    EX_CTX_MATRIX | EX_CTX_SECRETS | EX_CTX_STEPS | EX_CTX_JOB | EX_CTX_RUNNER |
                    EX_CTX_ENV,
             .fn = EX_FN_HASHFILES},                            /* step-with */
    [285] = {.kind = EX__SK_STRING, .constant = "string"},      /* input-type-string */
    [286] = {.kind = EX__SK_STRING, .constant = "boolean"},     /* input-type-boolean */
    [287] = {.kind = EX__SK_STRING, .constant = "number"},      /* input-type-number */
    [288] = {.kind = EX__SK_STRING, .constant = "environment"}, /* input-type-environment */
    [289] = {.kind = EX__SK_STRING, .constant = "choice"},      /* input-type-choice */
};

const size_t ex__schema_len = 290;
