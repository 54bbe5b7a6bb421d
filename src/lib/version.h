/* trainctl's version, for `version`, the daemon's hello and the metrics. */
#ifndef TRAINCTL_VERSION_H
#define TRAINCTL_VERSION_H

#define TRAINCTL_VERSION "0.1.0"

#endif
