/* srdma-cp server: file-system helpers (paths confined to the export, whole reads and writes,
 * temporary files). */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
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

ssize_t cp_full_pread(int fd, uint8_t *b, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, b + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int cp_make_tmp(int dirfd, const char *base, mode_t mode, char *tmp, size_t cap)
{
	uint8_t r[6];
	char hex[13];
	int i, fd;

	for (i = 0; i < 16; i++) {
		if (RAND_bytes(r, sizeof(r)) != 1)
			return -EIO;
		cp_hex(r, sizeof(r), hex);
		snprintf(tmp, cap, ".%.200s.srdma-cp.%s", base, hex);
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd < 0 ? -errno : fd;
	}
	return -EEXIST;
}

int cp_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec && a->st_ino == b->st_ino;
}
