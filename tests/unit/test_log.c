/* The shapes of srdma-server's log lines (apps/log.h): text, the journal's priority prefixes
 * (only when $JOURNAL_STREAM names the file stderr really is) and JSON with structured fields.
 * stderr is pointed at a scratch file, and each case reads back what was written (so an
 * assertion's detail lands there too; the verdicts, on stdout, do not). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "../../apps/log.h"

static FILE *scratch;
static int saved_stderr = -1;

/* Point stderr at a fresh, empty scratch file and reset the settings. */
static int setup(void **state)
{
	(void)state;
	scratch = tmpfile();
	if (!scratch)
		return -1;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fileno(scratch), STDERR_FILENO) < 0)
		return -1;
	unsetenv("JOURNAL_STREAM");
	srdma_log_detect_journal();
	srdma_log_set_format(SRDMA_LOG_TEXT);
	srdma_log_set_level(SRDMA_LOG_INFO);
	srdma_log_set_tag("tag");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(scratch);
	unsetenv("JOURNAL_STREAM");
	return 0;
}

/* Everything written to the scratch stderr so far (a static buffer). */
static const char *written(void)
{
	static char buf[8192];
	ssize_t n = pread(fileno(scratch), buf, sizeof(buf) - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int ret;

	assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ret = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	if (ret)
		fail_msg("\"%s\" does not match /%s/", text, pattern);
}

static void set_journal_stream(int fd)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
}

static void test_text(void **state)
{
	(void)state;
	srdma_warn("client #%d: %s", 7, "refused");
	srdma_debug("not at info");
	assert_matches(written(),
		       "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
		       "WARN tag: client #7: refused\n$");
}

/* A control character in a message cannot start a line of its own. */
static void test_text_one_line(void **state)
{
	(void)state;
	srdma_info("peer said \"a\nERROR forged\r\"\n");
	assert_matches(written(), "INFO tag: peer said \"a\\?ERROR forged\\?\"\n$");
}

static void test_long_message_cut(void **state)
{
	char big[3000];
	const char *w;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	srdma_info("%s", big);
	w = written();
	assert_int_equal(strchr(w, '\n') - w + 1, (long)strlen(w));
	assert_true(strlen(w) < 1100);
	assert_matches(w, "xxx\\.\\.\\.\n$");
}

static void test_journal_priorities(void **state)
{
	(void)state;
	set_journal_stream(STDERR_FILENO);
	assert_int_equal(srdma_log_detect_journal(), 1);
	srdma_log_set_level(SRDMA_LOG_DEBUG);
	srdma_err("e");
	srdma_warn("w");
	srdma_info("i");
	srdma_debug("d");
	assert_string_equal(written(), "<3>e\n<4>w\n<6>i\n<7>d\n");
}

/* $JOURNAL_STREAM inherited by a process whose stderr went elsewhere: plain text. */
static void test_journal_other_file(void **state)
{
	FILE *other = tmpfile();

	(void)state;
	assert_non_null(other);
	set_journal_stream(fileno(other));
	fclose(other);
	assert_int_equal(srdma_log_detect_journal(), 0);
	setenv("JOURNAL_STREAM", "8:", 1);
	assert_int_equal(srdma_log_detect_journal(), 0);
	srdma_info("plain");
	assert_matches(written(), "^[0-9-]{10}T[0-9:.]{12}Z INFO tag: plain\n$");
}

static void test_json(void **state)
{
	struct srdma_log_field f[] = {
	    SRDMA_LOG_STR("event", "reload"),
	    SRDMA_LOG_NUM("max_clients", 12),
	    SRDMA_LOG_STR("level", "not the level"),
	};
	struct json_object *o, *v;
	const char *w;

	(void)state;
	srdma_log_set_format(SRDMA_LOG_JSON);
	srdma_log_fields(SRDMA_LOG_WARN, f, 3, "reload: %s\n\"quoted\"", "x");
	w = written();
	/* One line, one object. */
	assert_int_equal(strchr(w, '\n') - w + 1, (long)strlen(w));
	o = json_tokener_parse(w);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "time", &v));
	assert_matches(json_object_get_string(v),
		       "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$");
	assert_true(json_object_object_get_ex(o, "level", &v));
	assert_string_equal(json_object_get_string(v), "warn");
	assert_true(json_object_object_get_ex(o, "program", &v));
	assert_string_equal(json_object_get_string(v), "tag");
	assert_true(json_object_object_get_ex(o, "message", &v));
	assert_string_equal(json_object_get_string(v), "reload: x?\"quoted\"");
	assert_true(json_object_object_get_ex(o, "event", &v));
	assert_string_equal(json_object_get_string(v), "reload");
	assert_true(json_object_object_get_ex(o, "max_clients", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int64(v), 12);
	json_object_put(o);
}

/* JSON for the journal: the priority prefix, then the object. */
static void test_json_journal(void **state)
{
	struct json_object *o, *v;
	const char *w;

	(void)state;
	set_journal_stream(STDERR_FILENO);
	assert_int_equal(srdma_log_detect_journal(), 1);
	srdma_log_set_format(SRDMA_LOG_JSON);
	srdma_err("down");
	w = written();
	assert_memory_equal(w, "<3>{", 4);
	o = json_tokener_parse(w + 3);
	assert_non_null(o);
	assert_true(json_object_object_get_ex(o, "message", &v));
	assert_string_equal(json_object_get_string(v), "down");
	json_object_put(o);
}

static void test_parse(void **state)
{
	enum srdma_log_format f = SRDMA_LOG_TEXT;
	enum srdma_log_level l = SRDMA_LOG_ERROR;

	(void)state;
	assert_int_equal(srdma_log_parse_format("JSON", &f), 0);
	assert_int_equal(f, SRDMA_LOG_JSON);
	assert_int_equal(srdma_log_parse_format("text", &f), 0);
	assert_int_equal(f, SRDMA_LOG_TEXT);
	assert_int_equal(srdma_log_parse_format("yaml", &f), -EINVAL);
	assert_int_equal(srdma_log_parse_format(NULL, &f), -EINVAL);
	assert_int_equal(srdma_log_parse_level("Debug", &l), 0);
	assert_int_equal(l, SRDMA_LOG_DEBUG);
	assert_string_equal(srdma_log_level_name(SRDMA_LOG_WARN), "warn");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_one_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_message_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_journal_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_journal_other_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_json_journal, setup, teardown),
	    cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
