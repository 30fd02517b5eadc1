#ifndef GTMD_CLDNS_SHIM_H
#define GTMD_CLDNS_SHIM_H
/* ldns.h uses bool without including stdbool.h on some versions. */
#include <stdbool.h>
#include <stdio.h>
#include <ldns/ldns.h>
#endif
