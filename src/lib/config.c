/* The configuration file; see config.h. */
#include "lib/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/strbuf.h"
#include "lib/xmalloc.h"

enum config_kind { CONFIG_DURATION, CONFIG_SIZE, CONFIG_LISTEN, CONFIG_COMMAND };

/* The daemon's keys: name, what the value is, and where it goes in struct config. */
static const struct config_key {
	const char *name;
	enum config_kind kind;
	size_t offset;
} config_keys[] = {
	{ "interval", CONFIG_DURATION, offsetof(struct config, interval_ms) },
	{ "retention", CONFIG_DURATION, offsetof(struct config, retention_ms) },
	{ "metrics", CONFIG_LISTEN, offsetof(struct config, metrics) },
	{ "gpu-free-mem", CONFIG_SIZE, offsetof(struct config, gpu_free_mem) },
	{ "stop-timeout", CONFIG_DURATION, offsetof(struct config, stop_timeout_ms) },
	{ "log-max", CONFIG_SIZE, offsetof(struct config, log_max) },
	{ "on-exit", CONFIG_COMMAND, offsetof(struct config, on_exit) },
	{ "on-exit-timeout", CONFIG_DURATION, offsetof(struct config, on_exit_timeout_ms) },
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->interval_ms = cfg->retention_ms = -1;
	cfg->gpu_free_mem = cfg->stop_timeout_ms = cfg->log_max = cfg->on_exit_timeout_ms = -1;
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nrun; i++) {
		free(cfg->run[i].option);
		free(cfg->run[i].value);
	}
	free(cfg->run);
	free(cfg->path);
	free(cfg->metrics);
	free(cfg->on_exit);
	config_init(cfg);
}

char *config_path(void)
{
	const char *explicit = getenv("TRAINCTL_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");

	if (explicit && *explicit)
		return xstrdup(explicit);
	if (xdg && *xdg == '/')
		return xasprintf("%s/trainctl/config", xdg);
	return xasprintf("%s/.config/trainctl/config", home && *home ? home : "/");
}

int config_parse_bool(const char *value)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (!strcasecmp(value, yes[i]))
			return 1;
		if (!strcasecmp(value, no[i]))
			return 0;
	}
	return -1;
}

int config_parse_listen(const char *text, char *host, size_t size, int *port, struct err *err)
{
	const char *colon = strrchr(text, ':');
	unsigned char addr[16];
	size_t len;
	int n;

	if (!colon || parse_uint(colon + 1, &n) < 0 || n < 1 || n > 65535)
		goto bad;
	len = (size_t)(colon - text);
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		text++;
		len -= 2;
		if (len >= size)
			goto bad;
		memcpy(host, text, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad;
	} else {
		if (len >= size)
			goto bad;
		memcpy(host, text, len);
		host[len] = '\0';
		if (len && inet_pton(AF_INET, host, addr) != 1)
			goto bad;
	}
	*port = n;
	return 0;
bad:
	return err_usage(err, "invalid address '%s' (expected HOST:PORT with a numeric host, "
			      "e.g. 127.0.0.1:9464, [::1]:9464 or :9464)", text);
}

/* Every key, for the message about an unknown one. */
static void config_key_names(struct strbuf *sb)
{
	for (size_t i = 0; i < ARRAY_LEN(config_keys); i++)
		strbuf_addf(sb, "%s, ", config_keys[i].name);
	strbuf_addstr(sb, "run.OPTION");
}

/* Store one daemon key's value; the error says what was wrong with it. */
static int config_set(struct config *cfg, const struct config_key *k, const char *value,
		      struct err *err)
{
	void *field = (char *)cfg + k->offset;
	char host[64];
	int port;

	switch (k->kind) {
	case CONFIG_DURATION:
		return parse_duration_ms(value, field, err);
	case CONFIG_SIZE:
		return parse_size_bytes(value, field, err);
	case CONFIG_LISTEN:
		if (config_parse_listen(value, host, sizeof(host), &port, err) < 0)
			return -1;
		break;
	case CONFIG_COMMAND:
		break;
	}
	free(*(char **)field);
	*(char **)field = xstrdup(value);
	return 0;
}

static int config_line(struct config *cfg, char *line, struct err *err)
{
	char *eq = strchr(line, '='), *key = line, *value, *end;
	struct strbuf names = STRBUF_INIT;
	struct config_run_default *r;

	if (!eq)
		return err_usage(err, "expected 'key = value', got '%s'", line);
	value = eq + 1;
	for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t'); end--)
		;
	*end = '\0';
	value += strspn(value, " \t");
	if (!*key)
		return err_usage(err, "missing key before '='");
	if (!*value)
		return err_usage(err, "missing value for '%s'", key);
	if (!strncmp(key, "run.", 4) && key[4]) {
		cfg->run = xreallocarray(cfg->run, cfg->nrun + 1, sizeof(*cfg->run));
		r = &cfg->run[cfg->nrun++];
		r->option = xstrdup(key + 4);
		r->value = xstrdup(value);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_LEN(config_keys); i++) {
		if (!strcmp(key, config_keys[i].name))
			return config_set(cfg, &config_keys[i], value, err);
	}
	config_key_names(&names);
	err_usage(err, "unknown key '%s' (expected one of %s)", key, names.buf);
	strbuf_release(&names);
	return -1;
}

int config_parse(struct config *cfg, const char *path, const char *text, struct err *err)
{
	const char *p = text;
	int lineno = 0;

	while (*p) {
		size_t len = strcspn(p, "\n");
		char *line = xstrndup(p, len), *start = line + strspn(line, " \t\r");
		char *end = start + strlen(start);
		struct err why = { 0 };
		int ret = 0;

		lineno++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
			*--end = '\0';
		if (*start && *start != '#') {
			ret = config_line(cfg, start, &why);
			if (ret == 0 && !strncmp(start, "run.", 4))
				cfg->run[cfg->nrun - 1].line = lineno;
		}
		free(line);
		if (ret < 0)
			return err_usage(err, "config %s:%d: %s", path, lineno, why.msg);
		p += len + (p[len] == '\n');
	}
	return 0;
}

int config_load(struct config *cfg, struct err *err)
{
	char *path = config_path();
	struct strbuf text = STRBUF_INIT;
	char buf[4096];
	size_t n;
	FILE *f;
	int ret = 0;

	config_init(cfg);
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT)
			ret = err_errno(err, "cannot read the configuration file %s", path);
		free(path);
		return ret;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&text, buf, n);
	if (ferror(f))
		ret = err_errno(err, "cannot read the configuration file %s", path);
	fclose(f);
	if (ret == 0)
		ret = config_parse(cfg, path, strbuf_str(&text), err);
	strbuf_release(&text);
	if (ret == 0)
		cfg->path = path;
	else
		free(path);
	return ret;
}
