/* replay.c: `surge replay`. Placeholder until its issue lands: it says so and fails. */
#include "cli/cli.h"

#include <stdio.h>

const char CLI_REPLAY_USAGE[] = "Usage: surge replay ... (not built yet)\n";

int cli_replay_command(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("surge: `replay` is not built yet\n", stderr);
    return 1;
}
