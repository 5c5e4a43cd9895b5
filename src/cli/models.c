/* models.c: `surge models`. Placeholder until its issue lands: it says so and fails. */
#include "cli/cli.h"

#include <stdio.h>

const char CLI_MODELS_USAGE[] = "Usage: surge models ... (not built yet)\n";

int cli_models_command(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("surge: `models` is not built yet\n", stderr);
    return 1;
}
