/* Binary frames for terminal streams; see frame.h. */
#include "lib/frame.h"

#include <string.h>

#include "lib/xmalloc.h"

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void frame_append(struct strbuf *out, enum frame_type type, const void *payload, size_t len)
{
	unsigned char header[FRAME_HEADER_SIZE] = { (unsigned char)type, 0, 0, 0 };

	put_u32(header + 4, (uint32_t)len);
	strbuf_add(out, header, sizeof(header));
	strbuf_add(out, payload, len);
}

int frame_take(struct strbuf *in, int *type, char **payload, size_t *len)
{
	const unsigned char *h = (const unsigned char *)in->buf;
	uint32_t n;

	if (in->len < FRAME_HEADER_SIZE)
		return 0;
	n = get_u32(h + 4);
	if (h[0] < FRAME_OUTPUT || h[0] > FRAME_EXIT || h[1] || h[2] || h[3] ||
	    n > FRAME_MAX_PAYLOAD)
		return -1;
	if (in->len < FRAME_HEADER_SIZE + (size_t)n)
		return 0;
	*type = h[0];
	*len = n;
	*payload = xmalloc((size_t)n + 1);
	memcpy(*payload, in->buf + FRAME_HEADER_SIZE, n);
	(*payload)[n] = '\0';
	strbuf_consume(in, FRAME_HEADER_SIZE + (size_t)n);
	return 1;
}

void frame_resize_encode(unsigned rows, unsigned cols, char out[4])
{
	out[0] = (char)(rows & 0xff);
	out[1] = (char)(rows >> 8);
	out[2] = (char)(cols & 0xff);
	out[3] = (char)(cols >> 8);
}

void frame_resize_decode(const char *payload, unsigned *rows, unsigned *cols)
{
	const unsigned char *p = (const unsigned char *)payload;

	*rows = (unsigned)p[0] | (unsigned)p[1] << 8;
	*cols = (unsigned)p[2] | (unsigned)p[3] << 8;
}
