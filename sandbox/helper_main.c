/* The gr-sandbox executable (sandbox/helper.c). */
#include "internal.h"

int main(int argc, char **argv)
{
    return sb__helper_main(argc, argv);
}
