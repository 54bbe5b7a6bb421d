/*
 * Terminal escape sequences in job output: what to remove so that a line
 * reads as text (progress parsing, `log --plain`).
 */
#ifndef TRAINCTL_ANSI_H
#define TRAINCTL_ANSI_H

#include <stddef.h>

/*
 * Remove ANSI escape sequences in place: CSI (ESC [ ... final byte), OSC
 * (ESC ] ... BEL or ESC \), other two-byte ESC sequences, and a trailing
 * incomplete sequence. Returns the new length.
 */
size_t ansi_strip(char *s, size_t len);

#endif
