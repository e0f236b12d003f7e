/* notify-listen: stand in for systemd's end of $NOTIFY_SOCKET and record what a service says.
 *
 *   notify-listen SOCKET OUT
 *
 * Binds a unix datagram socket at the path SOCKET and appends every assignment of every
 * datagram it receives (sd_notify(3): "READY=1\nSTATUS=...") to OUT, one line each, after the
 * receive time in milliseconds of CLOCK_MONOTONIC: "12345 READY=1". Flushed line by line, so a
 * test can read OUT while it runs. Ends on SIGTERM or SIGINT (removing SOCKET), exit status 0;
 * 1 on a set-up error, 2 on a usage error. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000ull + (unsigned long long)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sigaction act = {.sa_handler = on_stop};
	char buf[4097];
	FILE *out;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: notify-listen SOCKET OUT\n");
		return 2;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "notify-listen: socket path too long: %s\n", argv[1]);
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	out = fopen(argv[2], "a");
	if (!out) {
		fprintf(stderr, "notify-listen: cannot open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unlink(argv[1]);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "notify-listen: cannot bind %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* No SA_RESTART: the signal must interrupt recv. */
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	while (!stop) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
		char *line, *save = NULL;
		unsigned long long t;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify-listen: recv: %s\n", strerror(errno));
			break;
		}
		buf[n] = '\0';
		t = now_ms();
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			fprintf(out, "%llu %s\n", t, line);
		fflush(out);
	}
	close(fd);
	unlink(argv[1]);
	fclose(out);
	return 0;
}
