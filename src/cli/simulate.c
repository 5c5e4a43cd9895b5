/* simulate.c: `surge simulate`. Placeholder until its issue lands: it says so and fails. */
#include "cli/cli.h"

#include <stdio.h>

const char CLI_SIMULATE_USAGE[] = "Usage: surge simulate ... (not built yet)\n";

int cli_simulate_command(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("surge: `simulate` is not built yet\n", stderr);
    return 1;
}
