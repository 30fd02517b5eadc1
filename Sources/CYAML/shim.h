#ifndef GTMD_CYAML_SHIM_H
#define GTMD_CYAML_SHIM_H
#include <yaml.h>
#endif
