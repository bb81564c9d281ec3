
#include "ngx_oc_module.h"
