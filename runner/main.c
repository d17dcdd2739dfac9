/* ghrun: entry point. Only main() picks exit codes (STYLE.md section 4). */
#include "rn.h"

int main(int argc, char **argv)
{
    return rn_cli_main(argc, argv);
}
