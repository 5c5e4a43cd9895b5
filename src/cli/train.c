/* train.c: `surge train`. Placeholder until its issue lands: it says so and fails. */
#include "cli/cli.h"

#include <stdio.h>

const char CLI_TRAIN_USAGE[] = "Usage: surge train ... (not built yet)\n";

int cli_train_command(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("surge: `train` is not built yet\n", stderr);
    return 1;
}
