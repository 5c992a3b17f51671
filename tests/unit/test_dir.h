/* test_dir.h -- a fresh temporary directory for a unit test, and its removal with all it holds.
 * Owns:  nothing but the directory it makes: PARENT/NAME.<six random characters>, where PARENT
 *        is the one given, else $TMPDIR, else /tmp.
 * Never: follows a symbolic link out of the directory when removing it (nftw FTW_PHYS);
 *        asserts (callers decide what a failure means: setup fails, teardown goes on). */
#ifndef ASHIATO_TEST_DIR_H
#define ASHIATO_TEST_DIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* make the directory; out receives its path. 0, or -1 (errno) */
static inline int test_dir_make(char *out, size_t cap, const char *parent, const char *name)
{
    if (!parent || !*parent)
        parent = getenv("TMPDIR");
    if (!parent || !*parent)
        parent = "/tmp";
    int n = snprintf(out, cap, "%s/%s.XXXXXX", parent, name);   /* mkdtemp's template */
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

static inline int test_dir_unlink_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
    (void)sb, (void)flag, (void)f;
    remove(path);
    return 0;
}

/* remove the directory and everything under it (depth first) */
static inline void test_dir_remove(const char *dir)
{
    if (dir && *dir)
        nftw(dir, test_dir_unlink_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
