#!/usr/bin/perl

# oc_connect: the application connects a tenant (POST creates or updates
# its instance, never a duplicate), shows it (GET), disconnects it
# (DELETE); missing keys answer 400; the credentials never reach a log.

use strict;
use warnings;

BEGIN { $ENV{OC_TEST_LOG_LEVEL} = 'debug' }

use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ();
use lib 't/lib';
use OCTest;
use JSON::PP;

my $SECRET = 'pd-secret-0123456789abcdef';

sub conf {
    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 2;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    oc_api_timeout          2s;
    oc_wait_timeout         5s;

    oc_instance crm {
        element  pipedrive;
        auth     accessToken;
        tenant   \$tenant;
        name     acme-crm-\$tenant;
        tags     customer:\$tenant team:sales;
        config   filter.response.nulls true;
        oc_tenant_absent_ttl 1s;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        # tests only: the tenant from a header; see docs/tenants.md
        set \$tenant \$http_x_tenant;

        location /crm/ {
            oc_pass     crm;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /connect {
            oc_connect  crm;
        }
    }
}
EOF
}

sub req {
    my ($method, $tenant, $body) = @_;
    my $h = "X-Tenant: $tenant";
    return OCTest::http(OCTest::_request($method, '/connect', $body,
                                         headers => $h));
}

sub get_as {
    my ($tenant) = @_;
    return http_get('/crm/contacts', headers => "X-Tenant: $tenant");
}

sub json_of {
    my ($r) = @_;
    return eval { decode_json(OCTest::http_body($r)) } // {};
}

my $t = OCTest->new;
my $sim = $t->sim;
$t->write_conf(conf())->run;

# missing keys: 400 naming them, no call
my $r = req(POST => 'acme', '{"pipedrive.email":"x"}');
like($r, qr/ 400 /, 'missing keys: 400');
like(json_of($r)->{error} // '', qr/"pipedrive\.api\.token" is missing/,
     'missing keys: named');
like(req(POST => 'acme', 'not json'), qr/ 400 /, 'not JSON: 400');
is(scalar @{ $sim->calls }, 0, 'missing keys: no Open Connectors call');

like(get_as('acme'), qr/ 409 /, 'before connect: not connected');

# create
sleep 1.1;
$sim->reset;
$r = req(POST => 'acme', qq({"pipedrive.api.token":"$SECRET"}));
like($r, qr/ 201 /, 'POST: 201 created');
my $j = json_of($r);
is($j->{state}, 'ready', 'POST: state ready');
ok($j->{id}, 'POST: with the instance id');
is($j->{tenant}, 'acme', 'POST: the tenant');
unlike($r, qr/\Q$SECRET\E/, 'POST: no credential in the answer');
my @inst = @{ $sim->instances };
is(scalar @inst, 1, 'POST: one instance');
unlike($r, qr/\Q$inst[0]{token}\E/, 'POST: no token in the answer');
is($inst[0]{name}, 'acme-crm-acme', 'POST: the evaluated name');
ok((grep { $_ eq 'customer:acme' } @{ $inst[0]{tags} }),
   'POST: the evaluated first tag');
ok((grep { $_ eq 'team:sales' } @{ $inst[0]{tags} }), 'POST: every tag');
my ($post) = grep { $_->{endpoint} eq 'POST /instances' } @{ $sim->calls };
my $pb = decode_json($post->{body});
is($pb->{configuration}{'pipedrive.api.token'}, $SECRET,
   'POST: the credentials went to Open Connectors');
is($pb->{configuration}{'filter.response.nulls'}, 'true',
   'POST: with the shared config');

like(get_as('acme'), qr/ 200 /, 'after connect: served');
my ($hub) = grep { $_->{path} =~ m{/hubs/} } reverse @{ $sim->calls };
like($hub->{authorization} // '', qr/Element \Q$inst[0]{token}\E/,
     'after connect: the tenant\'s token upstream');

# again: an update, no duplicate
$r = req(POST => 'acme', qq({"pipedrive.api.token":"$SECRET-2"}));
like($r, qr/ 200 /, 'POST again: 200');
is(scalar @{ $sim->instances }, 1, 'POST again: still one instance');
is($sim->count('PATCH /instances/{id}'), 1, 'POST again: one PATCH');

# GET
$r = req(GET => 'acme');
like($r, qr/ 200 /, 'GET: 200');
is(json_of($r)->{state}, 'ready', 'GET: ready');
is(json_of($r)->{id}, $inst[0]{id}, 'GET: the id');
is(json_of(req(GET => 'nobody'))->{state}, 'not connected',
   'GET: an unknown tenant is not connected');

# 20 identical connects at once: one instance
$sim->reset;
$sim->latency(0.05);
my @pids;
for (1 .. 20) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $x = req(POST => 'race', qq({"pipedrive.api.token":"$SECRET"}));
        POSIX::_exit($x =~ / 20[01] / ? 0 : 1);
    }
    push @pids, $pid;
}
my $fails = 0;
for (@pids) { waitpid($_, 0); $fails++ if $? }
$sim->latency(0);
is($fails, 0, 'race: all twenty connects answered 200 or 201');
is(scalar(grep { $_->{name} eq 'acme-crm-race' && !$_->{deleted} }
          @{ $sim->instances }), 1,
   'race: exactly one instance');
is($sim->count('POST /instances'), 1, 'race: one POST');

# DELETE
$r = req(DELETE => 'acme');
like($r, qr/ 200 /, 'DELETE: 200');
is(json_of($r)->{state}, 'not connected', 'DELETE: not connected');
is(scalar(grep { $_->{name} eq 'acme-crm-acme' && !$_->{deleted} }
          @{ $sim->instances }), 0, 'DELETE: the instance is gone');
is($sim->count('DELETE /instances/{id}'), 1, 'DELETE: one DELETE call');
like(get_as('acme'), qr/ 409 /, 'DELETE: the next request is refused');
like(req(DELETE => 'acme'), qr/ 404 /, 'DELETE again: 404');

like(req(POST => 'a b', '{}'), qr/ 400 /, 'bad tenant: 400');

$t->stop;

my $log = $t->error_log;
like($log, qr/\[debug\]/, 'the log is at debug level');
unlike($log, qr/\Q$SECRET\E/, 'no credential of a connect body in the log');

# the token: only where nginx's proxy module writes the request it builds
# at debug level (as in t/oc_hygiene.t)
my @entries;
for my $line (split /\n/, $log) {
    if ($line =~ m{^\d{4}/\d\d/\d\d } || !@entries) {
        push @entries, $line;
    } else {
        $entries[-1] .= "\n$line";
    }
}
my @leaks = grep { index($_, $inst[0]{token}) >= 0
                   && !/\[debug\] \d+#\d+: \*\d+ http proxy header:/ }
            @entries;
ok(!@leaks, 'no token in the log but the proxy module\'s debug entries')
    or diag(substr($leaks[0], 0, 300));

done_testing;
