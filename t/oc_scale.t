#!/usr/bin/perl

# Lookups that scale: the outbound connection cap (oc_api_connections),
# the identity tag search, the shared fallback scan, the old digest tag.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use OCTest;
use OCConf;

# n blocks b1..bn (Open Connectors names scale-1..scale-n), /bI/ on each
sub scale_conf {
    my ($n, %o) = @_;
    my $http = $o{http} // '';
    my ($blocks, $locations) = ('', '');
    for my $i (1 .. $n) {
        $blocks .= <<"EOF";
    oc_instance b$i {
        element  pipedrive;
        name     scale-$i;
        auth     emailPassword;
        config   pipedrive.email ops\@example.com;
        config   pipedrive.password pd-password;
    }
EOF
        $locations .= <<"EOF";
        location /b$i/ {
            oc_pass     b$i;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }
EOF
    }
    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 1;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    $http

$blocks
    server {
        listen  127.0.0.1:%%PORT_8080%%;
$locations
    }
}
EOF
}

# waits until $n blocks logged a resolution; returns how many did
sub wait_resolved {
    my ($t, $n, $re) = @_;
    $re //= qr/\[notice\].*oc_instance "b\d+": \w[\w-]* instance \d+ /;
    my $end = time + 15;
    my $got;
    while (($got = () = $t->grep_log($re)) < $n && time < $end) {
        sleep 0.1;
    }
    return $got;
}

# ---- oc_api_connections ----------------------------------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->latency(0.2);

    $t->write_conf(scale_conf(6, http => 'oc_api_connections 2;'))->run;

    is(wait_resolved($t, 6), 6, 'connections 2: six blocks resolved');
    is($sim->inflight->{peak}, 2,
       'connections 2: never more than 2 calls open in the worker');
    is($sim->count('POST /instances'), 6, 'connections 2: no call lost');
    like(http_get('/b6/contacts'), qr/ 200 /, 'connections 2: served');
    $t->stop;
}

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->latency(0.2);

    $t->write_conf(scale_conf(6))->run;

    is(wait_resolved($t, 6), 6, 'default 8: six blocks resolved');
    is($sim->inflight->{peak}, 6, 'default 8: six calls at once');
    $t->stop;
}

{
    my $t = OCTest->new;
    $t->write_conf(scale_conf(1, http => 'oc_api_connections 0;'));
    my ($rc, $out) = $t->test_config;
    like($out, qr/value must be between 1 and 1024 in \S+nginx\.conf:\d+/,
         'oc_api_connections 0: nginx -t gives the bounds and the line');
}

done_testing;
