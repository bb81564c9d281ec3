
/*
 * Copyright (C) ngx_oc_module authors
 */


/*
 * What the fuzz targets cannot take from nginx's objects: what main()'s
 * file (src/core/nginx.c) and the module list that configure generates
 * (objs/ngx_modules.c) define, the HTTP core module, whose object would
 * bring the whole of nginx's HTTP code, and the module's own module
 * structure.  Everything else the targets call is nginx's own code.
 * The functions are reached only from the master and worker process
 * cycles, which no target runs: they abort.
 */


#include "ngx_oc_fuzz.h"
#include "ngx_oc_tenant.h"


static void ngx_oc_fuzz_unexpected(const char *name);


/* no module list: no target calls a module's handlers */

ngx_module_t  *ngx_modules[] = { NULL };
char          *ngx_module_names[] = { NULL };

/* index 0, as in nginx, where the core module comes first */

ngx_module_t   ngx_core_module;

/* their indexes only, in ngx_oc_curl_init(), which no target calls */

ngx_module_t   ngx_http_module;
ngx_module_t   ngx_oc_module;


char **
ngx_set_environment(ngx_cycle_t *cycle, ngx_uint_t *last)
{
    ngx_oc_fuzz_unexpected("ngx_set_environment");
    return NULL;
}


ngx_pid_t
ngx_exec_new_binary(ngx_cycle_t *cycle, char *const *argv)
{
    ngx_oc_fuzz_unexpected("ngx_exec_new_binary");
    return NGX_INVALID_PID;
}


ngx_cpuset_t *
ngx_get_cpu_affinity(ngx_uint_t n)
{
    ngx_oc_fuzz_unexpected("ngx_get_cpu_affinity");
    return NULL;
}


/*
 * families (ngx_oc_tenant_conf.c) need nginx's HTTP variables, which the
 * fuzz build does not link: no target declares a family
 */

char *
ngx_oc_tenant_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenant_directive");
    return NGX_CONF_ERROR;
}


char *
ngx_oc_tenants_max(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenants_max");
    return NGX_CONF_ERROR;
}


char *
ngx_oc_tenant_absent_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_oc_fuzz_unexpected("ngx_oc_tenant_absent_ttl");
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_oc_tenant_init_conf(ngx_conf_t *cf, ngx_oc_instance_t *oi)
{
    return NGX_OK;
}


ngx_int_t
ngx_oc_tenant_validate(ngx_conf_t *cf, ngx_oc_main_conf_t *omcf)
{
    return NGX_OK;
}


static void
ngx_oc_fuzz_unexpected(const char *name)
{
    fprintf(stderr, "fuzz target called %s()\n", name);
    abort();
}
