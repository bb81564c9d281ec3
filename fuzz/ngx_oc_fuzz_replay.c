
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * A fuzz target without libFuzzer: feeds each file named, and each file of
 * each directory named, to LLVMFuzzerTestOneInput() once.  "make test"
 * replays the corpora so with plain cc and AddressSanitizer.
 */


#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sanitizer/common_interface_defs.h>


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_path(const char *path, int top);
static int replay_file(const char *path);
static int replay_cmp(const void *a, const void *b);
static void replay_died(void);
static void replay_abort(int signo);


static unsigned long   replayed;
static const char     *replaying;


int
main(int argc, char **argv)
{
    int  i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }

    __sanitizer_set_death_callback(replay_died);
    signal(SIGABRT, replay_abort);

    LLVMFuzzerInitialize(&argc, &argv);

    for (i = 1; i < argc; i++) {
        if (replay_path(argv[i], 1) != 0) {
            return 1;
        }
    }

    printf("%lu inputs replayed\n", replayed);

    return 0;
}


static int
replay_path(const char *path, int top)
{
    int              rc;
    char            *sub, **names;
    DIR             *dir;
    size_t           i, n, nalloc, len;
    struct stat      st;
    struct dirent   *de;

    if (stat(path, &st) == -1) {
        perror(path);
        return 1;
    }

    if (!S_ISDIR(st.st_mode)) {
        return replay_file(path);
    }

    if (!top) {
        return 0;
    }

    dir = opendir(path);
    if (dir == NULL) {
        perror(path);
        return 1;
    }

    names = NULL;
    n = 0;
    nalloc = 0;

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        if (n == nalloc) {
            nalloc = nalloc ? 2 * nalloc : 64;
            names = realloc(names, nalloc * sizeof(char *));
            if (names == NULL) {
                abort();
            }
        }

        names[n] = strdup(de->d_name);
        if (names[n] == NULL) {
            abort();
        }

        n++;
    }

    closedir(dir);

    /* the same order everywhere, so that a failure is reproducible */

    qsort(names, n, sizeof(char *), replay_cmp);

    rc = 0;

    for (i = 0; i < n; i++) {
        len = strlen(path) + 1 + strlen(names[i]) + 1;

        sub = malloc(len);
        if (sub == NULL) {
            abort();
        }

        snprintf(sub, len, "%s/%s", path, names[i]);

        if (rc == 0) {
            rc = replay_path(sub, 0);
        }

        free(sub);
        free(names[i]);
    }

    free(names);

    return rc;
}


static int
replay_file(const char *path)
{
    FILE     *f;
    long      size;
    uint8_t  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }

    if (fseek(f, 0, SEEK_END) == -1 || (size = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) == -1)
    {
        perror(path);
        fclose(f);
        return 1;
    }

    /* exactly the input's size: a read past it is an error */

    data = malloc(size ? (size_t) size : 1);
    if (data == NULL) {
        abort();
    }

    if (size && fread(data, 1, (size_t) size, f) != (size_t) size) {
        perror(path);
        fclose(f);
        free(data);
        return 1;
    }

    fclose(f);

    /* a sanitizer may end the process without a word on the input */

    printf("%s\n", path);
    fflush(stdout);

    replaying = path;

    LLVMFuzzerTestOneInput(data, (size_t) size);

    replaying = NULL;

    free(data);
    replayed++;

    return 0;
}


static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


/* a sanitizer report or a failed assertion: name the input */

static void
replay_died(void)
{
    if (replaying != NULL) {
        fprintf(stderr, "replay: failed on %s\n", replaying);
    }
}


static void
replay_abort(int signo)
{
    replay_died();

    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}
