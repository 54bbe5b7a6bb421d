/* Stripping terminal escape sequences; see ansi.h. */
#include "lib/ansi.h"

/* Length of the escape sequence at s (s[0] is ESC), or len when it is cut off. */
static size_t escape_length(const char *s, size_t len)
{
	size_t i;

	if (len < 2)
		return len;
	if (s[1] == '[') { /* CSI: parameters and intermediates, then a byte in 0x40-0x7e */
		for (i = 2; i < len; i++) {
			if ((unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7e)
				return i + 1;
		}
		return len;
	}
	if (s[1] == ']') { /* OSC: ends with BEL or ST (ESC \) */
		for (i = 2; i < len; i++) {
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == '\033' && i + 1 < len && s[i + 1] == '\\')
				return i + 2;
		}
		return len;
	}
	return 2;
}

size_t ansi_strip(char *s, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		if (s[in] == '\033') {
			in += escape_length(s + in, len - in);
			continue;
		}
		s[out++] = s[in++];
	}
	return out;
}
