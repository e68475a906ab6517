/* cmd_report.c: `iclab report DIR` — the HTML page of a result directory
 * (src/page.h does the work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "page.h"

static const cli_opt OPTS[] = {
    {"out", "FILE", "DIR/report.html", "where to write the page (\"-\": standard output)"},
};

static int run(const cli_command *cmd, int argc, char **argv) {
    /* one positional argument, DIR, anywhere among the options */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) { cli_error(cmd, "out of memory"); return CLI_FAIL; }
    const char *dir = NULL;
    int n = 0, extra = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 || strcmp(argv[i], "-h") == 0) {
            rest[n++] = argv[i];
            /* an option's separate value */
            if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) rest[n++] = argv[++i];
        } else if (!dir) {
            dir = argv[i];
        } else {
            extra = i;
        }
    }
    cli_args a;
    int rc = cli_parse(cmd, n, rest, &a);
    free(rest);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if (extra) {
        cli_error(cmd, "one directory only ('%s' is a second; see 'iclab report --help')", argv[extra]);
        cli_args_free(&a);
        return CLI_USAGE;
    }
    if (!dir) {
        cli_error(cmd, "which directory? usage: %s", cmd->usage);
        cli_args_free(&a);
        return CLI_USAGE;
    }
    ic_err err = {{0}};
    const char *out = cli_get(&a, "out");
    char path[4096];
    char *html = NULL;
    size_t len = 0;
    rc = CLI_FAIL;
    if (!out && ic_path_join(path, sizeof path, dir, "report.html", &err)) cli_error(cmd, "%s", err.msg);
    else if (ic_page_render(dir, 0, &html, &len, &err)) cli_error(cmd, "%s", err.msg);
    else if (out && strcmp(out, "-") == 0) rc = fwrite(html, 1, len, stdout) == len ? CLI_OK : CLI_FAIL;
    else if (ic_write_file_atomic(out ? out : path, html, len, &err)) cli_error(cmd, "%s", err.msg);
    else {
        ic_err ignored;
        printf("wrote %s (%s page)\n", out ? out : path, ic_page_kind(dir, &ignored));
        rc = CLI_OK;
    }
    free(html);
    cli_args_free(&a);
    return rc;
}

const cli_command cli_cmd_report = {
    "report",
    "one self-contained HTML page of a result directory (train, eval, surgery, probe, loops, compare, sweep, demo)",
    "iclab report DIR [--out FILE]",
    "Reads the files a command wrote in DIR and writes DIR/report.html: the question the\n"
    "command answers, the setup, the figures (its SVGs, inlined), the tables with their 90%\n"
    "intervals, the conclusions the numbers support and links to every CSV/JSON file. The page\n"
    "loads nothing from the network, works on a phone, prints, and follows the dark mode.\n"
    "The kind of page follows from the files (docs/report.md). `iclab train` keeps its run\n"
    "directory's report.html current by itself; `iclab demo` writes runs/demo/report.html.\n"
    "Example: iclab report runs/demo/surgery",
    OPTS,
    (int)(sizeof OPTS / sizeof *OPTS),
    0,
    run,
};
