#!/usr/bin/env python3
"""Derive executor/validate_table.c from actions-runner-workflow-v1.0.json.

Usage: python3 scripts/gen_schema_table.py ../shared/corpus/schema/actions-runner-workflow-v1.0.json executor/validate_table.c

Only definitions reachable from the workflow root are emitted. The root is
"workflow-root-strict" (event names checked) plus the `description` key that
"workflow-root" allows."""
import json, sys

src, out = sys.argv[1], sys.argv[2]
defs = json.load(open(src))['definitions']
# Local adjustments (each one listed in the generated file's header):
root = defs['workflow-root-strict']['mapping']['properties']
root['description'] = 'workflow-description'
root['on'] = 'on-strict'
defs['job-environment-mapping']['mapping']['properties']['deployment'] = 'boolean'
defs['cron-mapping']['mapping']['properties']['timezone'] = 'non-empty-string'
defs['workflow-call-input-definition']['mapping']['properties']['type']['required'] = False
builtin = {
    'null': {'null': {}}, 'boolean': {'boolean': {}}, 'number': {'number': {}},
    'string': {'string': {}}, 'sequence': {'sequence': {'item-type': 'any'}},
    'mapping': {'mapping': {'loose-key-type': 'string', 'loose-value-type': 'any'}},
    'any': {'one-of': ['null', 'boolean', 'number', 'string', 'sequence', 'mapping']},
}
for k, v in builtin.items():
    assert k not in defs, k
    defs[k] = v

CTX = {'github': 'GITHUB', 'env': 'ENV', 'vars': 'VARS', 'secrets': 'SECRETS', 'matrix': 'MATRIX',
       'needs': 'NEEDS', 'steps': 'STEPS', 'job': 'JOB', 'jobs': 'JOBS', 'runner': 'RUNNER',
       'strategy': 'STRATEGY', 'inputs': 'INPUTS'}

def refs(v):
    r = []
    if 'one-of' in v: r += v['one-of']
    if 'sequence' in v: r.append(v['sequence']['item-type'])
    m = v.get('mapping')
    if m:
        for p in m.get('properties', {}).values():
            r.append(p if isinstance(p, str) else p['type'])
        if 'loose-key-type' in m: r += [m['loose-key-type'], m['loose-value-type']]
    return r

order, seen = [], set()
stack = ['workflow-root-strict', 'any']
while stack:
    n = stack.pop(0)
    if n in seen: continue
    seen.add(n); order.append(n)
    stack += refs(defs[n])
idx = {n: i for i, n in enumerate(order)}

def cstr(s):
    return json.dumps(s)

lines = []
w = lines.append
w('/*')
w(' * The workflow schema as a C table, derived from actions/runner')
w(' * src/Sdk/WorkflowParser/workflow-v1.0.json (runner v2.336.0, commit 258d6c8;')
w(' * MIT, Copyright (c) 2019 GitHub) by a one-off transform: only definitions')
w(' * reachable from the root are kept, descriptions are dropped, context lists')
w(' * become EX_CTX_* and EX_FN_* bits. The root is "workflow-root-strict" (so')
w(' * event names are checked) plus the `description` key of "workflow-root".')
w(' * Adjustments: `on` is optional (act plans a workflow without triggers as')
w(' * zero jobs; GitHub requires it), `type` of a workflow_call input is')
w(' * optional (act accepts it, default string), and jobs.<id>.environment takes')
w(' * `deployment: <bool>` (newer than this schema copy; used by astral-sh/uv),')
w(' * and on.schedule items take `timezone` next to `cron` (documented by GitHub,')
w(' * absent from this schema copy; workflow-semantics.md section 14).')
w(' * Built-in types (null, boolean, number, string, sequence, mapping, any) are')
w(' * spelled out as the template reader defines them.')
w(' */')
w('#include "ex/expr.h"'); w('#include "workflow_internal.h"')
w('')
# props
for n in order:
    m = defs[n].get('mapping')
    if m and m.get('properties'):
        w('static const struct ex__sprop p%d[] = { /* %s */' % (idx[n], n))
        for k, p in m['properties'].items():
            t, req = (p, False) if isinstance(p, str) else (p['type'], p.get('required', False))
            w('    {%s, %d, %s},' % (cstr(k), idx[t], 'true' if req else 'false'))
        w('};')
    if 'one-of' in defs[n]:
        w('static const unsigned short o%d[] = {%s}; /* %s */' % (
            idx[n], ', '.join(str(idx[x]) for x in defs[n]['one-of']), n))
    if 'allowed-values' in defs[n]:
        w('static const char *const a%d[] = {%s, NULL};' % (
            idx[n], ', '.join(cstr(x) for x in defs[n]['allowed-values'])))
w('')
w('const struct ex__sdef ex__schema[] = {')
for n in order:
    v = defs[n]
    f = []
    if 'one-of' in v:
        f += ['.kind = EX__SK_ONEOF', '.one_of = o%d' % idx[n], '.n_one_of = %d' % len(v['one-of'])]
    elif 'mapping' in v:
        m = v['mapping']
        f.append('.kind = EX__SK_MAP')
        if m.get('properties'):
            f += ['.props = p%d' % idx[n], '.n_props = %d' % len(m['properties'])]
        if 'loose-key-type' in m:
            f += ['.loose_key = %d' % idx[m['loose-key-type']], '.loose_val = %d' % idx[m['loose-value-type']]]
    elif 'sequence' in v:
        f += ['.kind = EX__SK_SEQ', '.item = %d' % idx[v['sequence']['item-type']]]
    elif 'string' in v or 'allowed-values' in v:
        s = v.get('string', {})
        f.append('.kind = EX__SK_STRING')
        if 'constant' in s: f.append('.constant = %s' % cstr(s['constant']))
        if s.get('require-non-empty'): f.append('.non_empty = true')
        if s.get('is-expression'): f.append('.is_expr = true')
        if 'allowed-values' in v: f.append('.allowed = a%d' % idx[n])
    elif 'boolean' in v: f.append('.kind = EX__SK_BOOL')
    elif 'number' in v: f.append('.kind = EX__SK_NUMBER')
    elif 'null' in v: f.append('.kind = EX__SK_NULL')
    else: raise SystemExit('unknown form ' + n)
    if 'context' in v:
        ctx, fn = [], set()
        for c in v['context']:
            name = c.split('(')[0]
            if name in CTX: ctx.append('EX_CTX_' + CTX[name])
            elif name == 'hashFiles': fn.add('EX_FN_HASHFILES')
            elif name in ('always', 'failure', 'success', 'cancelled'): fn.add('EX_FN_STATUS')
            else: raise SystemExit('unknown context ' + c)
        f.append('.ctx = ' + ' | '.join(ctx))
        if fn: f.append('.fn = ' + ' | '.join(sorted(fn)))
    if 'coerce-raw' in v: pass
    w('    [%d] = {%s}, /* %s */' % (idx[n], ', '.join(f), n))
w('};')
w('')
w('const size_t ex__schema_len = %d;' % len(order))
open(out, 'w').write('\n'.join(lines) + '\n')
hdr = []
for n in ['workflow-root-strict', 'any', 'string', 'job-if', 'step-if', 'jobs', 'job', 'steps']:
    pass
print('root', idx['workflow-root-strict'], 'any', idx['any'], 'count', len(order))
