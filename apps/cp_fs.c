/* srdma-cp server: file-system helpers (paths confined to the export, whole reads and writes,
 * files being received). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cp.h"

/* Everything resolves beneath the export: "..", absolute symlinks and symlinks that climb out
 * fail with EXDEV, whatever the path looks like. */
int cp_open_beneath(int root, const char *rel, int flags, mode_t mode)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .mode = (flags & O_CREAT) ? mode : 0,
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, root, rel, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

int cp_split_parent(const char *rel, char *parent, size_t cap, const char **base)
{
	const char *sl = strrchr(rel, '/');

	if (!strcmp(rel, "."))
		return -EISDIR;
	if (!sl) {
		snprintf(parent, cap, ".");
		*base = rel;
	} else {
		snprintf(parent, cap, "%.*s", (int)(sl - rel), rel);
		*base = sl + 1;
	}
	return 0;
}

/* mkdir -p of rel beneath root, one component at a time, never through a symlink. */
int cp_mkdirs(int root, const char *rel)
{
	char comp[CP_PATH_MAX + 1];
	const char *p = rel;
	int fd = dup(root), nfd;

	if (fd < 0)
		return -errno;
	if (!strcmp(rel, ".")) {
		close(fd);
		return 0;
	}
	while (*p) {
		size_t n = strcspn(p, "/");

		memcpy(comp, p, n);
		comp[n] = '\0';
		if (mkdirat(fd, comp, 0755) && errno != EEXIST) {
			int e = -errno;

			close(fd);
			return e;
		}
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (nfd < 0)
			return errno == ELOOP ? -EXDEV : -errno;
		fd = nfd;
		p += n;
		if (*p == '/')
			p++;
	}
	close(fd);
	return 0;
}

int cp_full_pwrite(int fd, const uint8_t *b, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, b, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		b += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* A random name for a temporary in dirfd: ".BASE.srdma-cp.HEX", created with O_EXCL. */
static int named_tmp(int dirfd, const char *base, int flags, mode_t mode, char *tmp, size_t cap)
{
	uint8_t r[6];
	char hex[13];
	int i, fd;

	for (i = 0; i < 16; i++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return -EIO;
		cp_hex(r, sizeof(r), hex);
		if ((size_t)snprintf(tmp, cap, ".%.200s.srdma-cp.%s", base, hex) >= cap)
			return -ENAMETOOLONG;
		fd = openat(dirfd, tmp, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

/* The named temporary the client's signal handler removes: set only while one exists. */
static volatile sig_atomic_t guard_on;
static int guard_dirfd = -1;
static char guard_name[CP_TMP_NAME];

static void guard_set(int dirfd, const char *name)
{
	snprintf(guard_name, sizeof(guard_name), "%s", name);
	guard_dirfd = dirfd;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	guard_on = 1;
}

static void guard_clear(void)
{
	guard_on = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static void on_fatal(int sig)
{
	int e = errno;

	if (guard_on)
		unlinkat(guard_dirfd, guard_name, 0);
	signal(sig, SIG_DFL);
	errno = e;
	raise(sig);
}

static const int fatal_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

void cp_tmp_handle_signals(void)
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++) {
		struct sigaction old;

		/* A signal the caller ignores (nohup) stays ignored. */
		if (sigaction(fatal_sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(fatal_sigs[i], &sa, NULL);
	}
}

/* The fatal signals held off while a name appears or goes (the caller's mask saved in old). */
static void hold_signals(sigset_t *old)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaddset(&set, fatal_sigs[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void release_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

int cp_tmp_open(struct cp_tmp *t, int dirfd, const char *base, mode_t mode, int guard)
{
	sigset_t old;
	int fd;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->dirfd = dirfd;
	t->guard = guard;
	/* An unnamed file in the destination's directory: nothing to clean up, whatever kills
	 * us, until cp_tmp_commit gives it its name. */
	fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd >= 0) {
		t->fd = fd;
		t->anon = 1;
		return 0;
	}
	/* Not supported by this file system (EOPNOTSUPP) or kernel (EISDIR, EINVAL): a named
	 * temporary, removed on every error and, in the client, on the fatal signals. */
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	if (guard)
		hold_signals(&old);
	fd = named_tmp(dirfd, base, O_RDWR, mode, t->name, sizeof(t->name));
	if (fd >= 0 && guard)
		guard_set(dirfd, t->name);
	if (guard)
		release_signals(&old);
	if (fd < 0) {
		t->name[0] = '\0';
		return fd;
	}
	t->fd = fd;
	return 0;
}

/* Link the unnamed file t at name (in t's directory): 0 or -errno. */
static int link_anon(struct cp_tmp *t, const char *name)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	if (!linkat(AT_FDCWD, proc, t->dirfd, name, AT_SYMLINK_FOLLOW))
		return 0;
	if (errno != ENOENT)
		return -errno;
	/* No /proc: the direct way, which needs CAP_DAC_READ_SEARCH. */
	return linkat(t->fd, "", t->dirfd, name, AT_EMPTY_PATH) ? -errno : 0;
}

int cp_tmp_commit(struct cp_tmp *t, const char *base)
{
	sigset_t old;
	int ret = 0, i;

	if (fsync(t->fd) < 0)
		return -errno;
	if (t->guard)
		hold_signals(&old);
	if (t->anon) {
		/* Straight to its name when that is free; otherwise under a temporary name first,
		 * renamed over the old file, so that a reader sees the old file or the new one. */
		ret = link_anon(t, base);
		if (ret == -EEXIST) {
			uint8_t r[6];
			char hex[13];

			for (i = 0; i < 16 && ret == -EEXIST; i++) {
				if (RAND_bytes(r, sizeof(r)) != 1) {
					ret = -EIO;
					break;
				}
				cp_hex(r, sizeof(r), hex);
				snprintf(t->name, sizeof(t->name), ".%.200s.srdma-cp.%s", base,
					 hex);
				ret = link_anon(t, t->name);
			}
			if (ret == 0 && t->guard)
				guard_set(t->dirfd, t->name);
			if (ret < 0)
				t->name[0] = '\0';
		} else if (ret == 0) {
			t->anon = 0;
		}
	}
	if (ret == 0 && t->name[0]) {
		if (renameat(t->dirfd, t->name, t->dirfd, base) < 0)
			ret = -errno;
		else
			t->name[0] = '\0';
	}
	if (ret == 0) {
		t->anon = 0;
		if (t->guard)
			guard_clear();
	}
	if (t->guard)
		release_signals(&old);
	if (ret == 0)
		fsync(t->dirfd);
	return ret;
}

void cp_tmp_discard(struct cp_tmp *t)
{
	sigset_t old;

	if (t->guard)
		hold_signals(&old);
	if (t->name[0])
		unlinkat(t->dirfd, t->name, 0);
	t->name[0] = '\0';
	if (t->guard) {
		guard_clear();
		release_signals(&old);
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

int cp_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec && a->st_ino == b->st_ino;
}
