#!/usr/bin/perl

# oc_status: every field of the JSON output against what the simulator saw,
# the Prometheus output line by line, counters shared by two workers and
# kept over a reload, and neither a token nor a secret in either output.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use lib 't/lib';
use OCTest;
use OCConf;

my $PASSWORD = 'pd-pass-4c81d2e7';

my $t = OCTest->new;
my $sim = $t->sim;

# the one version string, as the module's header defines it
my ($VERSION) = do {
    open my $fh, '<', 'ngx_oc_module/ngx_oc_version.h' or die "$!";
    local $/;
    <$fh> =~ /^#define NGX_OC_VERSION\s+"([^"]+)"/m;
};

# the first creation fails with Open Connectors' message and requestId
$sim->fault(endpoint => 'POST /instances', count => 1, status => 400,
            body => '{"requestId":"req-4711","message":"Missing required '
                    . 'configuration"}',
            headers => { 'Content-Type' => 'application/json' });

$t->write_conf(<<"EOF");
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 2;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     ops\@example.com;
        config   pipedrive.password  $PASSWORD;
    }

    oc_instance gone {
        element  pipedrive;
        name     not-there;
        create   off;
        config   pipedrive.email     ops\@example.com;
        config   pipedrive.password  $PASSWORD;
    }

    server {
        listen      127.0.0.1:%%PORT_8080%%;
        add_header  X-Worker \$pid always;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /gone/ {
            oc_pass     gone;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /status {
            oc_status;
        }
    }
}
EOF

$t->run;

sub status {
    my ($r) = @_;
    $r //= http_get('/status');
    my $json = eval { decode_json(http_body($r)) };
    return wantarray ? ($json, http_header($r, 'X-Worker')) : $json;
}

sub wait_for {
    my ($cond) = @_;
    my $end = time + 5;
    until ($cond->()) {
        return 0 if time > $end;
        sleep 0.05;
    }
    return 1;
}

ok(wait_for(sub { (status()->{instances}{pd}{state} // '') eq 'failed'
                  && (status()->{instances}{gone}{state} // '') eq 'failed' }),
   'warm-up failed for both instances');

# ---- failed resolutions ------------------------------------------------------

my $r = http_get('/status');
like($r, qr/^HTTP\/1\.1 200 /, 'status: 200');
is(http_header($r, 'Content-Type'), 'application/json', 'JSON by default');

my $st = status($r);
my $now = time;

ok(abs($st->{time} - $now) < 5, 'time: now');
like($st->{nginx_version}, qr/^\d+\.\d+\.\d+$/, 'nginx_version');
is($st->{version}, $VERSION, 'version: the one of ngx_oc_version.h');
like($st->{libcurl_version}, qr/^\d+\.\d+\.\d+/, 'libcurl_version');
is($st->{zone}{name}, 'oc', 'zone: name');
is($st->{zone}{size}, 256 * 1024, 'zone: size');
cmp_ok($st->{zone}{pages}{total}, '>', 8, 'zone: pages');
is($st->{zone}{pages}{used} + $st->{zone}{pages}{free},
   $st->{zone}{pages}{total}, 'zone: used + free = total');
cmp_ok($st->{zone}{pages}{used}, '>=', 1, 'zone: records use pages');
is_deeply([sort keys %{ $st->{instances} }], ['gone', 'pd'],
          'every declared instance');

my $pd = $st->{instances}{pd};
is($pd->{element}, 'pipedrive', 'pd: element');
is($pd->{name}, 'acme-crm', 'pd: Open Connectors name');
is($pd->{auth}, 'emailPassword', 'pd: auth');
is($pd->{state}, 'failed', 'pd: state');
ok(!$pd->{resolving}, 'pd: not resolving');
is($pd->{instance_id}, undef, 'pd: no instance id');
is($pd->{token_age}, undef, 'pd: no token age');
is($pd->{failures}, 1, 'pd: one failure');
like($pd->{last_error}{message},
     qr/^POST \/instances answered 400: Missing required configuration$/,
     'pd: last error, Open Connectors\' message');
is($pd->{last_error}{request_id}, 'req-4711', 'pd: last error, requestId');
ok(abs($pd->{last_error}{time} - $now) < 5, 'pd: last error, time');
ok($pd->{next_retry} > $pd->{last_error}{time}
   && $pd->{next_retry} < $now + 5, 'pd: next retry after a back-off');
# blocks of one worker that need a scan at once share it, and its pages
# count to the block that leads it: pd's or gone's
ok($pd->{calls}{list}{ok} <= 1, 'pd: at most one list');
cmp_ok($pd->{calls}{list}{ok} + $st->{instances}{gone}{calls}{list}{ok},
       '>=', 1, 'pd and gone: a scan read');
is($pd->{calls}{create}{client_error}, 1, 'pd: one failed create');
is($pd->{resolutions}{failed}, 1, 'pd: one failed resolution');
is($pd->{requests}{injected}, 0, 'pd: nothing injected');

my $gone = $st->{instances}{gone};
is($gone->{state}, 'failed', 'gone: state');
like($gone->{last_error}{message}, qr/no instance named "not-there" .*"create" is off/,
     'gone: last error');
is($gone->{last_error}{request_id}, undef, 'gone: no requestId');
is($gone->{calls}{create}{ok} + $gone->{calls}{create}{client_error}, 0,
   'gone: no create');

for (1 .. 3) {
    like(http_get('/gone/contacts'), qr/ 503 /, "gone: refused $_");
}

is_deeply(status()->{instances}{gone}{requests},
          { injected => 0, refused => { failed => 3, disabled => 0,
                                        unauthorized => 0, timeout => 0,
                                        unavailable => 0 } },
          'gone: three refused, reason failed');

# ---- traffic through both workers -------------------------------------------

ok(wait_for(sub { time > $pd->{next_retry} }), 'back-off over');

my (%workers, $ok, $n);
while ($n++ < 200) {
    my $r = http_get('/crm/contacts');
    $ok++ if $r =~ /^HTTP\/1\.1 200 /;
    $workers{ http_header($r, 'X-Worker') // '' }++;
    last if keys %workers >= 2 && $n >= 10;
}

is(scalar keys %workers, 2, 'requests served by both workers');
is($ok, $n, "$n requests, all 200");

$st = status();
$pd = $st->{instances}{pd};
my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };

is($pd->{state}, 'ready', 'pd: ready');
is($pd->{instance_id}, $inst->{id}, 'pd: instance id');
ok($pd->{token_age} >= 0 && $pd->{token_age} < 10, 'pd: token age');
is($pd->{last_error}, undef, 'pd: no error once ready');
is($pd->{next_retry}, undef, 'pd: no retry once ready');
is($pd->{failures}, 0, 'pd: failures reset');
is($pd->{requests}{injected}, $n, 'pd: injected, from both workers');
is($pd->{resolutions}{created}, 1, 'pd: created');

# every call counted, as the simulator counted them; "gone" keeps trying
# after its back-off, so only its list calls vary and only pd's are exact

my %sum;
for my $i (values %{ $st->{instances} }) {
    for my $kind (keys %{ $i->{calls} }) {
        $sum{$kind} += $_ for values %{ $i->{calls}{$kind} };
    }
}
is($sum{create}, $sim->count('POST /instances'), 'create calls');

my %ua = map { my %h = map { lc $_->[0] => $_->[1] } @{ $_->{headers} };
               ($h{'user-agent'} // '') => 1 }
         grep { $_->{endpoint} =~ m{^\S+ /instances} } @{ $sim->calls };
# libcurl's version as the module was built against it
is(scalar(keys %ua), 1, 'one User-Agent for every call');
like((keys %ua)[0], qr{^ngx_oc_module/\Q$VERSION\E libcurl/\d+\.\d+\.\d+$},
     'User-Agent: module and libcurl versions');
is($sum{get}, $sim->count('GET /instances/{id}'), 'get calls');
is($sum{update}, $sim->count('PATCH /instances/{id}')
                 + $sim->count('PUT /instances/{id}'), 'update calls');
is($sum{delete}, $sim->count('DELETE /instances/{id}'), 'delete calls');
is($pd->{calls}{create}{ok}, 1, 'pd: one create ok');
# a tag search after the create; before it, the scan's page unless
# gone's scan was under way and pd followed it
ok($pd->{calls}{list}{ok} == 2 || $pd->{calls}{list}{ok} == 3,
   'pd: lists before and after the create');
cmp_ok($sim->count('GET /elements/{key}/instances'), '>=', $sum{list},
       'list calls');
# its tag search finds nothing (a 404); the scan after it is shared with pd
cmp_ok($st->{instances}{gone}{calls}{list}{client_error}, '>=', 1,
       'gone: lists');

# ---- an upstream 401 ----------------------------------------------------------

my $gen = $pd->{generation};
$sim->rotate($inst->{id});

like(http_get('/crm/contacts'), qr/ 401 /, '401 with the old token');
like(http_get('/crm/contacts'), qr/ 200 /, 'new token');

$pd = status()->{instances}{pd};
is($pd->{token_purges}, 1, '401: one purge');
is($pd->{calls}{get}{ok}, 1, '401: one get');
is($pd->{calls}{get}{ok}, $sim->count('GET /instances/{id}'),
   '401: as the simulator counted');
is($pd->{resolutions}{found}, 1, '401: found again');
cmp_ok($pd->{generation}, '>', $gen, '401: generation moved');
is($pd->{requests}{injected}, $n + 2, '401: both requests injected');

# ---- both workers see the same numbers ---------------------------------------

my %seen;
for (1 .. 200) {
    my ($s, $pid) = status();
    $seen{$pid} //= $s->{instances}{pd};
    last if keys %seen >= 2;
}

my @views = values %seen;
delete $_->{token_age} for @views;
is(scalar @views, 2, 'status from both workers');
is_deeply($views[0], $views[1], 'both workers report the same')
    if @views == 2;

# ---- the Prometheus text format ----------------------------------------------

$r = http_get('/status?format=prometheus');
like($r, qr/^HTTP\/1\.1 200 /, 'prometheus: 200');
is(http_header($r, 'Content-Type'),
   'text/plain; version=0.0.4; charset=utf-8', 'prometheus: content type');

my $prom = http_body($r);
my %m = prom_check($prom);
$st = status();

is(prom_value(\%m, 'ngx_oc_requests_injected_total', oc_instance => 'pd'),
   $st->{instances}{pd}{requests}{injected}, 'prometheus: injected');
is(prom_value(\%m, 'ngx_oc_requests_refused_total', oc_instance => 'gone',
              reason => 'failed'), 3, 'prometheus: refused');
is(prom_value(\%m, 'ngx_oc_api_calls_total', oc_instance => 'pd',
              kind => 'create', outcome => 'client_error'), 1,
   'prometheus: calls');
is(prom_value(\%m, 'ngx_oc_token_purges_total', oc_instance => 'pd'), 1,
   'prometheus: purges');
is(prom_value(\%m, 'ngx_oc_resolutions_total', oc_instance => 'pd',
              outcome => 'created'), 1, 'prometheus: resolutions');
is(prom_value(\%m, 'ngx_oc_instance_state', oc_instance => 'pd',
              state => 'ready'), 1, 'prometheus: state ready');
is(prom_value(\%m, 'ngx_oc_instance_state', oc_instance => 'pd',
              state => 'failed'), 0, 'prometheus: not failed');
is(prom_value(\%m, 'ngx_oc_instance_id', oc_instance => 'pd'), $inst->{id},
   'prometheus: instance id');
is(prom_value(\%m, 'ngx_oc_instance_id', oc_instance => 'gone'), undef,
   'prometheus: no id, no sample');
is(prom_value(\%m, 'ngx_oc_instance_info', oc_instance => 'pd',
              oc_element => 'pipedrive', name => 'acme-crm',
              auth => 'emailPassword'), 1, 'prometheus: info');
is(prom_value(\%m, 'ngx_oc_zone_pages', zone => 'oc', state => 'free'),
   $st->{zone}{pages}{free}, 'prometheus: zone pages');
is(prom_value(\%m, 'ngx_oc_zone_size_bytes', zone => 'oc'), 262144,
   'prometheus: zone size');
ok(defined prom_value(\%m, 'ngx_oc_next_retry_timestamp_seconds',
                      oc_instance => 'gone'), 'prometheus: next retry');
ok(defined prom_value(\%m, 'ngx_oc_last_error_timestamp_seconds',
                      oc_instance => 'gone'), 'prometheus: last error');
ok(defined prom_value(\%m, 'ngx_oc_token_age_seconds', oc_instance => 'pd'),
   'prometheus: token age');

unlike($prom, qr/[{,]instance=/,
       'prometheus: no "instance" label, Prometheus keeps it for the target');
is(prom_value(\%m, 'ngx_oc_build_info', version => $VERSION,
              nginx => $st->{nginx_version},
              libcurl => $st->{libcurl_version}), 1,
   'prometheus: build info, the version of the status JSON');
is_deeply([ $prom =~ /^# TYPE (\S+) /mg ],
          [ qw(ngx_oc_build_info ngx_oc_instance_info ngx_oc_instance_state
               ngx_oc_instance_resolving ngx_oc_instance_id
               ngx_oc_instance_generation ngx_oc_token_age_seconds
               ngx_oc_instance_failures
               ngx_oc_next_retry_timestamp_seconds
               ngx_oc_last_error_timestamp_seconds
               ngx_oc_requests_injected_total ngx_oc_requests_refused_total
               ngx_oc_api_calls_total ngx_oc_resolutions_total
               ngx_oc_token_purges_total ngx_oc_zone_size_bytes
               ngx_oc_zone_pages) ],
          'prometheus: every family, in order');
is(scalar(() = $prom =~ /^ngx_oc_api_calls_total\{oc_instance="pd",/mg),
   6 * 4, 'prometheus: calls, every kind and outcome of an instance');
is(scalar(() = $prom =~ /^ngx_oc_instance_state\{oc_instance="gone",/mg),
   6, 'prometheus: state, one sample per state');

# ---- neither a token nor a secret --------------------------------------------

my @tokens = map { $_->{token} } @{ $sim->instances };
push @tokens, $inst->{token};
my @secrets = ($sim->user_secret, $sim->org_secret, $PASSWORD);

for my $out (['JSON', http_get('/status')], ['Prometheus', $prom]) {
    my ($what, $text) = @$out;
    for my $token (@tokens) {
        unlike($text, qr/\Q$token\E/, "$what: no token");
        my $head = substr($token, 0, 4);
        unlike($text, qr/\Q$head\E(?:\.\.\.|\*)/, "$what: no masked token");
    }
    for my $secret (@secrets) {
        unlike($text, qr/\Q$secret\E/, "$what: no \"$secret\"");
    }
}

# ---- a reload keeps the counters ---------------------------------------------

my $before = status()->{instances}{pd};
my $gone_before = status()->{instances}{gone};
$t->reload;
my $after = status()->{instances}{pd};
my $gone_after = status()->{instances}{gone};

delete $_->{token_age} for $before, $after;
is_deeply($after, $before, 'reload: same counters and state');
is($gone_after->{requests}{refused}{failed},
   $gone_before->{requests}{refused}{failed}, 'reload: same refusals');
cmp_ok($gone_after->{calls}{list}{ok}, '>=',
       $gone_before->{calls}{list}{ok}, 'reload: calls kept');

like(http_get('/crm/contacts'), qr/ 200 /, 'reload: request');
is(status()->{instances}{pd}{requests}{injected},
   $before->{requests}{injected} + 1, 'reload: counting goes on');

# ---- disabled -------------------------------------------------------------------

$sim->disable($inst->{id});
like(http_get('/crm/contacts'), qr/ 403 /, 'disabled: upstream 403');
ok(wait_for(sub { status()->{instances}{pd}{state} eq 'disabled' }),
   'disabled: state');
like(http_get('/crm/contacts'), qr/ 503 /, 'disabled: refused');
is(status()->{instances}{pd}{requests}{refused}{disabled}, 1,
   'disabled: counted by reason');

# ---- requests the handler refuses --------------------------------------------

like(http_post('/status', 'x'), qr/^HTTP\/1\.1 405 /, 'POST: 405');
like(http_get('/status?format=xml'), qr/^HTTP\/1\.1 400 /, 'unknown format: 400');
like(http_get('/status?format=json'), qr/^HTTP\/1\.1 200 .*"instances"/s,
     'format=json');
$r = http("HEAD /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
like($r, qr/^HTTP\/1\.1 200 /, 'HEAD: 200');
is(http_body($r), '', 'HEAD: no body');

$t->stop;

# ---- oauth2: the consent URL call and re-authorization ------------------------

{
    my $t = OCTest->new;
    my $sim = $t->sim;
    (my $conf = oc_oauth_conf()) =~ s{(location = /oauth/start)}
        {location = /status { oc_status; }\n\n        $1};
    $t->write_conf($conf)->run;

    my $port = OCTest::port(8080);
    like(http_get('/crm/contacts'), qr/ 503 /,
         'oauth2: before consent');

    my $oa = status(http_get('/status'))->{instances}{pd};
    is($oa->{auth}, 'oauth2', 'oauth2: auth');
    is($oa->{state}, 'unauthorized', 'oauth2: unauthorized');
    is($oa->{requests}{refused}{unauthorized}, 1,
       'oauth2: refused, reason unauthorized');

    $sim->consent('allow');
    for (1 .. 2) {
        $sim->request(GET => "http://127.0.0.1:$port/oauth/start",
                      max_redirect => 5);
    }

    $oa = status(http_get('/status'))->{instances}{pd};
    is($oa->{state}, 'ready', 'oauth2: ready');
    is($oa->{calls}{oauth}{ok}, $sim->count('GET /elements/{key}/oauth/url'),
       'oauth2: consent URL calls');
    is($oa->{calls}{oauth}{ok}, 2, 'oauth2: two consent URL calls');
    is($oa->{resolutions}{created}, 1, 'oauth2: created with the code');
    is($oa->{resolutions}{reauthorized}, 1, 'oauth2: re-authorized');
    is($oa->{calls}{update}{ok}, 1, 'oauth2: re-authorized with a PATCH');
    $t->stop;
}

# ---- no instance declared ------------------------------------------------------

{
    my $t = OCTest->new;
    $t->write_conf(<<'EOF')->run;
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    server {
        listen  127.0.0.1:%%PORT_8081%%;

        location = /status {
            oc_status;
        }
    }
}
EOF

    my $st = status(http_get('/status', port => 8081));
    is($st->{zone}, undef, 'no instance: no zone');
    is_deeply($st->{instances}, {}, 'no instance: none listed');
    my %m = prom_check(http_body(http_get('/status?format=prometheus',
                                          port => 8081)));
    $t->stop;
}

done_testing;


# The exposition format, line by line: HELP, then TYPE, then the samples of
# one family, each family once; valid names and labels; counters and only
# counters end in _total.  Returns { name => [ [ {labels}, value ], ... ] }.

sub prom_check {
    my ($text) = @_;
    my $NAME = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
    my (%help, %type, %samples, @bad, $family);

    like($text, qr/\n\z/, 'prometheus: ends with a line break');

    for my $line (split /\n/, $text) {
        if ($line =~ /^# HELP ($NAME) \S.*$/) {
            push @bad, "HELP twice: $line" if $help{$1}++;
            $family = $1;

        } elsif ($line =~ /^# TYPE ($NAME) (counter|gauge)$/) {
            my ($name, $type) = ($1, $2);
            push @bad, "TYPE without its HELP: $line"
                unless defined $family && $family eq $name && !$type{$name};
            $type{$name} = $type;
            push @bad, "counter not ending in _total: $line"
                if $type eq 'counter' && $name !~ /_total$/;
            push @bad, "gauge ending in _total: $line"
                if $type eq 'gauge' && $name =~ /_total$/;

        } elsif ($line =~ /^($NAME)\{(.*)\} (-?\d+(?:\.\d+)?)$/) {
            my ($name, $labels, $value) = ($1, $2, $3);
            push @bad, "sample outside its family: $line"
                unless defined $family && $family eq $name && $type{$name};
            my %l;
            while ($labels =~ /\G([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(?:,|\z)/gc) {
                push @bad, "label twice: $line" if exists $l{$1};
                $l{$1} = $2;
            }
            push @bad, "bad labels: $line"
                unless (pos($labels) // 0) == length $labels;
            push @bad, "no oc_instance or zone label: $line"
                unless exists $l{oc_instance} || exists $l{zone}
                       || $name eq 'ngx_oc_build_info';
            push @{ $samples{$name} }, [\%l, $value];

        } else {
            push @bad, "not a HELP, TYPE or sample line: $line";
        }
    }

    ok(!@bad, 'prometheus: every line well-formed') or diag(join "\n", @bad);
    ok(!grep({ !/^ngx_oc_/ } keys %type), 'prometheus: names ngx_oc_*');

    return %samples;
}

sub prom_value {
    my ($m, $name, %want) = @_;

    SAMPLE: for my $s (@{ $m->{$name} // [] }) {
        my ($l, $v) = @$s;
        next if keys %$l != keys %want;
        for (keys %want) {
            next SAMPLE unless ($l->{$_} // '') eq $want{$_};
        }
        return $v;
    }

    return undef;
}
