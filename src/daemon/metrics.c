/* The Prometheus endpoint; see metrics.h. */
#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/config.h"
#include "lib/parse.h"
#include "lib/prom.h"
#include "lib/proto.h"
#include "lib/version.h"
#include "lib/xmalloc.h"

#define MHD_LIBRARY "libmicrohttpd.so.12"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The libmicrohttpd functions we call, resolved by name from one table. */
struct mhd_api {
	__typeof__(&MHD_start_daemon) start_daemon;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_run) run;
	__typeof__(&MHD_get_timeout) get_timeout;
	__typeof__(&MHD_get_daemon_info) get_daemon_info;
	__typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
};

static const struct {
	const char *name;
	size_t offset;
} mhd_symbols[] = {
#define SYM(field, name) { name, offsetof(struct mhd_api, field) }
	SYM(start_daemon, "MHD_start_daemon"),
	SYM(stop_daemon, "MHD_stop_daemon"),
	SYM(run, "MHD_run"),
	SYM(get_timeout, "MHD_get_timeout"),
	SYM(get_daemon_info, "MHD_get_daemon_info"),
	SYM(create_response_from_buffer, "MHD_create_response_from_buffer"),
	SYM(add_response_header, "MHD_add_response_header"),
	SYM(queue_response, "MHD_queue_response"),
	SYM(destroy_response, "MHD_destroy_response"),
#undef SYM
};

struct metrics {
	void *lib;
	struct mhd_api api;
	struct MHD_Daemon *mhd;
	int listen_fd;
	struct loop_watch *epoll_watch;
	struct loop_watch *timer;
};

static int mhd_load(struct metrics *m, struct err *err)
{
	m->lib = dlopen(MHD_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!m->lib)
		return err_set(err, "--metrics needs libmicrohttpd (Debian: apt-get install "
				    "libmicrohttpd12): %s", dlerror());
	for (size_t i = 0; i < sizeof(mhd_symbols) / sizeof(mhd_symbols[0]); i++) {
		void *sym = dlsym(m->lib, mhd_symbols[i].name);
		if (!sym)
			return err_set(err, "%s lacks %s", MHD_LIBRARY, mhd_symbols[i].name);
		memcpy((char *)&m->api + mhd_symbols[i].offset, &sym, sizeof(sym));
	}
	return 0;
}

/* The text of /metrics, from the replies of `ls -a` and `machine`. */
static char *metrics_text(struct daemon *d, size_t *len)
{
	json_t *ls = proto_request("ls"), *machine = proto_request("machine");
	json_t *jobs, *hw;
	struct strbuf sb = STRBUF_INIT;

	json_object_set_new(ls, "all", json_true());
	jobs = request_call(d, ls);
	hw = request_call(d, machine);
	prom_render(&sb, json_object_get(jobs, "jobs"), hw,
		    (time_now_ms() - d->started_at) / 1000.0, TRAINCTL_VERSION, time_now_ms());
	json_decref(ls);
	json_decref(machine);
	json_decref(jobs);
	json_decref(hw);
	*len = sb.len;
	return strbuf_detach(&sb);
}

static enum MHD_Result respond(struct metrics *m, struct MHD_Connection *conn, unsigned status,
			       char *body, size_t len, const char *type)
{
	struct MHD_Response *r = m->api.create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	m->api.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = m->api.queue_response(conn, status, r);
	m->api.destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct daemon *d = cls;
	size_t len;
	char *body;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return respond(d->metrics, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			       xstrdup("only GET is supported\n"), 22, "text/plain");
	if (strcmp(url, "/metrics"))
		return respond(d->metrics, conn, MHD_HTTP_NOT_FOUND,
			       xstrdup("trainctl serves /metrics\n"), 25, "text/plain");
	body = metrics_text(d, &len);
	return respond(d->metrics, conn, MHD_HTTP_OK, body, len, CONTENT_TYPE);
}

static void metrics_run(struct daemon *d);

static void on_timer(void *data, int fd, uint32_t events)
{
	struct daemon *d = data;

	(void)fd;
	(void)events;
	d->metrics->timer = NULL;
	metrics_run(d);
}

static void on_ready(void *data, int fd, uint32_t events)
{
	(void)fd;
	(void)events;
	metrics_run(data);
}

/* Let MHD do its work, then arm a timer for what it wants to do next. */
static void metrics_run(struct daemon *d)
{
	struct metrics *m = d->metrics;
	MHD_UNSIGNED_LONG_LONG ms;

	m->api.run(m->mhd);
	if (m->timer)
		loop_remove(d->loop, m->timer);
	m->timer = NULL;
	if (m->api.get_timeout(m->mhd, &ms) == MHD_YES)
		m->timer = loop_add_timer(d->loop, ms > 0 ? (int64_t)ms : 1, on_timer, d);
}

/* Our own listening socket, so that a bad address gets a clear error. */
static int metrics_listen(const char *addr, int *ipv6, struct err *err)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char host[64];
	int port, fd, one = 1;

	if (config_parse_listen(addr, host, sizeof(host), &port, err) < 0)
		return -1;
	*ipv6 = strchr(host, ':') != NULL;
	if (*ipv6) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &in6->sin6_addr);
	} else {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		if (*host)
			inet_pton(AF_INET, host, &in4->sin_addr);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_errno(err, "cannot listen on %s", addr);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, *ipv6 ? sizeof(*in6) : sizeof(*in4)) < 0 ||
	    listen(fd, 64) < 0) {
		err_errno(err, "cannot listen on %s for metrics", addr);
		close(fd);
		return -1;
	}
	return fd;
}

int metrics_start(struct daemon *d, const char *addr, struct err *err)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	const union MHD_DaemonInfo *info;
	int ipv6 = 0;

	d->metrics = m;
	m->listen_fd = -1;
	if (mhd_load(m, err) < 0 || (m->listen_fd = metrics_listen(addr, &ipv6, err)) < 0)
		goto fail;
	m->mhd = m->api.start_daemon(MHD_USE_EPOLL | (ipv6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				     on_request, d, MHD_OPTION_LISTEN_SOCKET, m->listen_fd,
				     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (!m->mhd) {
		err_set(err, "cannot serve metrics on %s (libmicrohttpd would not start)", addr);
		goto fail;
	}
	m->listen_fd = -1; /* MHD_stop_daemon closes it */
	info = m->api.get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->epoll_watch = loop_add_fd(d->loop, info->epoll_fd, EPOLLIN, on_ready, d);
	metrics_run(d);
	daemon_log("metrics on http://%s/metrics", addr);
	return 0;
fail:
	metrics_release(d);
	return -1;
}

void metrics_release(struct daemon *d)
{
	struct metrics *m = d->metrics;

	if (!m)
		return;
	if (m->epoll_watch)
		loop_remove(d->loop, m->epoll_watch);
	if (m->timer)
		loop_remove(d->loop, m->timer);
	if (m->mhd)
		m->api.stop_daemon(m->mhd);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->lib)
		dlclose(m->lib);
	free(m);
	d->metrics = NULL;
}
