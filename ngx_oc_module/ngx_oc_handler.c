
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"


ngx_int_t
ngx_oc_add_variables(ngx_conf_t *cf)
{
    return NGX_OK;
}


ngx_int_t
ngx_oc_handler_init(ngx_conf_t *cf)
{
    return NGX_OK;
}
