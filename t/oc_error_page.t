# error_page: nginx's own error page replaces the module's JSON 503 where the location or its server has one for 503, Retry-After stays; elsewhere the JSON body is the default.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;

my $t = OCTest->new;
my $sim = $t->sim;

$t->write_file('html/oc-down.html', "<p>CRM down, back soon</p>\n");

$t->write_conf(<<'EOF');
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;

    oc_instance gone {
        element  pipedrive;
        name     not-there;
        create   off;
        config   pipedrive.email     ops@example.com;
        config   pipedrive.password  pd-password;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;
        root    %%TESTDIR%%/html;

        location /json/ {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /page/ {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
            error_page  503 /oc-down.html;
        }

        location /other/ {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
            error_page  502 504 /oc-down.html;
        }

        location /named/ {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
            error_page  503 = @fallback;
        }

        location @fallback {
            return  200 "fallback\n";
        }
    }

    server {
        listen      127.0.0.1:%%PORT_8081%%;
        root        %%TESTDIR%%/html;
        error_page  503 /oc-down.html;

        location / {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /oc-down.html {
        }
    }
}
EOF

$t->run;

my $r = http_get('/json/contacts');
is(http_status($r), 503, 'no error_page: 503');
is(http_header($r, 'Content-Type'), 'application/json',
   'no error_page: the JSON body');
like(http_body($r), qr/^\{"error":"instance unavailable","instance":"gone",/,
     'no error_page: the module\'s message');
like(http_header($r, 'Retry-After') // '', qr/^\d+$/,
     'no error_page: Retry-After');

$r = http_get('/page/contacts');
is(http_status($r), 503, 'error_page 503 in the location: still 503');
is(http_body($r), "<p>CRM down, back soon</p>\n",
   'error_page 503 in the location: the operator\'s page');
like(http_header($r, 'Content-Type') // '', qr{^text/html},
     'error_page 503 in the location: its content type');
like(http_header($r, 'Retry-After') // '', qr/^\d+$/,
     'error_page 503 in the location: Retry-After kept');

$r = http_get('/other/contacts');
is(http_header($r, 'Content-Type'), 'application/json',
   'error_page for other statuses only: the JSON body');

$r = http_get('/named/contacts');
is(http_status($r), 200, 'error_page 503 = @named: its status');
is(http_body($r), "fallback\n", 'error_page 503 = @named: its body');

$r = http_get('/crm/contacts', port => 8081);
is(http_status($r), 503, 'error_page 503 in the server: 503');
is(http_body($r), "<p>CRM down, back soon</p>\n",
   'error_page 503 in the server: the operator\'s page');
like(http_header($r, 'Retry-After') // '', qr/^\d+$/,
     'error_page 503 in the server: Retry-After kept');

# the refusals are logged as before, nothing went upstream
is(scalar(() = $t->error_log =~ /oc_pass: instance "gone" unavailable/g), 5,
   'each refusal logged once');
is($sim->count('GET /hubs/crm/contacts'), 0, 'nothing reached the upstream');

$t->stop;

done_testing;
