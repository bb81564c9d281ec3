#!/usr/bin/perl

# oc_pass: the upstream gets the instance's Authorization header, the
# client's own never arrives, and the variables carry the token and the id.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;

my $t = OCTest->new;
my $sim = $t->sim;

$t->write_conf(<<'EOF');
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 1;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    log_format oc '$uri id=$oc_instance_id';

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     ops@example.com;
        config   pipedrive.password  pd-password;
    }

    server {
        listen       127.0.0.1:%%PORT_8080%%;
        access_log   %%TESTDIR%%/oc.log oc;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /plain/ {
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /check {
            oc_pass  pd;
            return   204;
        }

        location /sub/ {
            auth_request  /check;
            proxy_pass    %%OC_API_URL%%/hubs/crm/;
        }

        location = /var {
            oc_pass  pd;
            return   200 "$oc_authorization|$oc_instance_id\n";
        }
    }
}
EOF

$t->run;

my $r = http_get('/crm/contacts',
                 headers => "Authorization: Basic Y2xpZW50OnNlY3JldA==");
like($r, qr/^HTTP\/1\.1 200 /, 'proxied through oc_pass');
like(http_body($r), qr/Lovelace/, 'simulator contacts');

my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
ok($inst && $inst->{token}, 'instance provisioned');

my $want = 'User ' . $sim->user_secret . ', Organization ' . $sim->org_secret
    . ', Element ' . $inst->{token};

my @hub = grep { $_->{endpoint} eq 'GET /hubs/contacts' } @{ $sim->calls };
is(scalar @hub, 1, 'one hub call');
is($hub[0]{authorization}, $want, 'upstream got exactly the triple header');
ok(!(grep { ($_->{authorization} // '') =~ /Basic/ } @{ $sim->calls }),
   'client Authorization never reached Open Connectors');

# without Authorization from the client, the header is added
$r = http_get('/crm/accounts');
like($r, qr/^HTTP\/1\.1 200 /, 'no client Authorization');
@hub = grep { $_->{endpoint} eq 'GET /hubs/accounts' } @{ $sim->calls };
is($hub[0]{authorization}, $want, 'header added when absent');

# a location without oc_pass is left alone
$r = http_get('/plain/contacts',
              headers => "Authorization: Basic Y2xpZW50OnNlY3JldA==");
like($r, qr/^HTTP\/1\.1 401 /, 'plain location: client header passed as is');
@hub = grep { $_->{path} =~ m{/hubs/crm/contacts$} } @{ $sim->calls };
is($hub[-1]{authorization}, 'Basic Y2xpZW50OnNlY3JldA==',
   'plain location untouched');

is(http_body(http_get('/var')), "$want|$inst->{id}\n",
   '$oc_authorization and $oc_instance_id');

# a subrequest shares its parent's headers: oc_pass stays out of it
like(http_get('/sub/users'), qr/^HTTP\/1\.1 401 /,
     'subrequest: main request not authorized by it');
@hub = grep { $_->{endpoint} eq 'GET /hubs/users' } @{ $sim->calls };
is(scalar @hub, 1, 'subrequest: main request proxied');
unlike($hub[0]{authorization} // '', qr/Element/,
       'subrequest: no token leaked to the main request');

is($sim->count('POST /instances'), 1, 'one instance created');

$t->stop;

like($t->read_file('oc.log'), qr{^/crm/contacts id=$inst->{id}$}m,
     '$oc_instance_id in the access log');

done_testing;
