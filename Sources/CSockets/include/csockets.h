#ifndef GTMD_CSOCKETS_H
#define GTMD_CSOCKETS_H
#endif
