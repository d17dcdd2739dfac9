/* Names of results, as GitHub spells them in contexts and reports. */
#include "ex.h"

const char *ex_result_name(enum ex_result r)
{
    switch (r) {
    case EX_RESULT_SUCCESS:
        return "success";
    case EX_RESULT_FAILURE:
        return "failure";
    case EX_RESULT_CANCELLED:
        return "cancelled";
    case EX_RESULT_SKIPPED:
        return "skipped";
    }
    return "unknown";
}
