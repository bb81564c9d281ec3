#!/usr/bin/perl

# oc_retry_on_401: a GET, HEAD or DELETE without a body that meets the
# upstream's 401 is sent once more, with the new token, and only its second
# answer reaches the client; a request with a body, another method or a
# second 401 passes the 401 on; the default is off.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;
use OCMany;

# the hub calls the simulator saw, and the token each was sent with
sub hub_calls {
    my ($sim) = @_;
    return grep { $_->{endpoint} =~ m{^\w+ /hubs/} } @{ $sim->calls };
}

sub tokens {
    return map { ($_->{authorization} // '') =~ /Element (\S+)$/ ? $1 : '' }
           @_;
}

sub statuses {
    my %st;
    $st{ (/^HTTP\/\d\.\d (\d+)/)[0] // 'none' }++ for @_;
    return \%st;
}

# how many status lines a raw answer holds: the first 401 must not be one
sub status_lines {
    my ($r) = @_;
    return scalar(() = $r =~ m{^HTTP/\d\.\d \d{3} }mg);
}

sub request {
    my ($method, $uri, %opt) = @_;
    my $body = $opt{body};
    my $req = "$method $uri HTTP/1.0\r\nHost: localhost\r\n";
    $req .= 'Content-Length: ' . length($body) . "\r\n" if defined $body;
    $req .= "\r\n";
    $req .= $body if defined $body;
    return http($req);
}

sub wait_for {
    my ($cond, $secs) = @_;
    my $end = time + ($secs // 5);
    until ($cond->()) {
        return 0 if time > $end;
        sleep 0.05;
    }
    return 1;
}

# /crm/ as in OCConf, plus: a location that turns the retry off, one without
# proxy buffering, one with keep-alive connections to the upstream, one
# whose "rewrite ... break" changes the URI (the replay, an internal
# redirect, must come back to this location), one whose error_page takes
# the 401, one with a cache, /up/ with a log of $upstream_status, reached
# by an error_page and by a "rewrite ... last", and an HTTP/2 port
sub conf {
    my (%o) = @_;
    my $workers = $o{workers} // 1;
    my $http = $o{http} // 'oc_retry_on_401 on;';
    my $create = $o{create} // 'on';
    my $main = $o{main} // '';
    my $hub = $o{hub} // '127.0.0.1:9';

    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
$main
worker_processes $workers;
events { worker_connections 1024; }

http {
    %%TEST_GLOBALS_HTTP%%

    proxy_cache_path  %%TESTDIR%%/cache  keys_zone=c:1m;

    log_format  up  '\$request_uri \$uri \$status "\$upstream_status"';

    upstream hub {
        server     $hub;
        keepalive  4;
    }

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          %%OC_USER_SECRET%%;
    oc_organization_secret  %%OC_ORG_SECRET%%;
    $http

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        auth     emailPassword;
        config   pipedrive.email     ops\@example.com;
        config   pipedrive.password  pd-password;
        create   $create;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;
        listen  127.0.0.1:%%PORT_8081%% http2;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /off/ {
            oc_pass          pd;
            oc_retry_on_401  off;
            proxy_pass       %%OC_API_URL%%/hubs/crm/;
        }

        location /lon/ {
            oc_pass          pd;
            oc_retry_on_401  on;
            proxy_pass       %%OC_API_URL%%/hubs/crm/;
        }

        location /nobuf/ {
            oc_pass          pd;
            proxy_buffering  off;
            proxy_pass       %%OC_API_URL%%/hubs/crm/;
        }

        location /ka/ {
            oc_pass             pd;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
            proxy_pass          http://hub/elements/api-v2/hubs/crm/;
        }

        location /rw/ {
            oc_pass     pd;
            rewrite     ^/rw/(.*)\$  /elements/api-v2/hubs/crm/\$1  break;
            proxy_pass  %%SIM_URL%%;
        }

        location /ie/ {
            oc_pass                 pd;
            proxy_intercept_errors  on;
            error_page              401 /denied;
            proxy_pass              %%OC_API_URL%%/hubs/crm/;
        }

        location = /denied {
            return  401 "denied\\n";
        }

        location /cached/ {
            oc_pass      pd;
            proxy_cache  c;
            proxy_pass   %%OC_API_URL%%/hubs/crm/;
        }

        location /up/ {
            oc_pass     pd;
            access_log  %%TESTDIR%%/up.log up;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /via/ {
            error_page  404 = /up/contacts;
            return      404;
        }

        location /old/ {
            rewrite  ^/old/(.*)\$  /up/\$1  last;
        }

        location /named/ {
            error_page  404 = \@crm;
            return      404;
        }

        location \@crm {
            oc_pass     pd;
            rewrite     ^  /elements/api-v2/hubs/crm/contacts  break;
            proxy_pass  %%SIM_URL%%;
        }

        location = /ping {
            return  200 "pong\\n";
        }
    }
}
EOF
}

# rotates the instance's token: returns the old and the new one
sub rotate {
    my ($sim) = @_;
    my ($inst) = grep { !$_->{deleted} } @{ $sim->instances };
    my $old = $inst->{token};
    my $new = $sim->rotate($inst->{id});
    $sim->reset;
    return ($old, $new);
}

# the first nginx keeps a debug log, to count connections at the end
my $t = OCTest->new;
my $sim = $t->sim;
$t->write_conf(conf(main => 'error_log %%TESTDIR%%/debug.log debug;',
                    http => 'oc_retry_on_401 on; oc_wait_timeout 2s;'))
  ->run;

like(http_get('/crm/contacts'), qr/ 200 /, 'warm');

# GET: the 401 is not seen, the second attempt carries the new token
{
    my ($old, $new) = rotate($sim);
    my $r = http_get('/crm/contacts?limit=2');

    like($r, qr{^HTTP/1\.1 200 }, 'GET: 200, not the 401');
    is(status_lines($r), 1, 'GET: one answer on the wire');
    like(http_body($r), qr/^\[/, "GET: the hub's body");

    my @hub = hub_calls($sim);
    is(scalar @hub, 2, 'GET: two hub calls');
    is_deeply([ tokens(@hub) ], [ $old, $new ], 'GET: old token, then new');
    is_deeply([ map { "$_->{method} $_->{path}?$_->{query}" } @hub ],
              [ ('GET /elements/api-v2/hubs/crm/contacts?limit=2') x 2 ],
              'GET: same method, path and arguments');
    is($sim->count('GET /instances/{id}'), 1, 'GET: one GET by id');
    is($sim->count('POST /instances'), 0, 'GET: no POST');
    is(scalar $t->grep_log(qr/upstream answered 401, sending the request /),
       1, 'GET: the replay is logged');
}

# DELETE: the first attempt was refused, so the record is deleted once
{
    my ($old, $new) = rotate($sim);
    my $r = request(DELETE => '/crm/contacts/1');

    like($r, qr{^HTTP/1\.1 200 }, 'DELETE: 200');
    my @hub = hub_calls($sim);
    is_deeply([ map { $_->{endpoint} } @hub ],
              [ ('DELETE /hubs/contacts/{id}') x 2 ], 'DELETE: sent twice');
    is_deeply([ tokens(@hub) ], [ $old, $new ], 'DELETE: old token, then new');
    is($sim->count('GET /instances/{id}'), 1, 'DELETE: one GET by id');
    like(http_get('/crm/contacts/1'), qr/ 404 /, 'DELETE: the record is gone');
}

# HEAD
{
    my ($old, $new) = rotate($sim);
    my $r = request(HEAD => '/crm/contacts');

    like($r, qr{^HTTP/1\.1 200 }, 'HEAD: 200');
    is(http_body($r) // '', '', 'HEAD: no body');
    my @hub = hub_calls($sim);
    is_deeply([ map { $_->{endpoint} } @hub ],
              [ ('HEAD /hubs/contacts') x 2 ], 'HEAD: sent twice');
    is_deeply([ tokens(@hub) ], [ $old, $new ], 'HEAD: old token, then new');
    is($sim->count('GET /instances/{id}'), 1, 'HEAD: one GET by id');
}

# without proxy buffering, and past a rewrite that must not run twice
for my $loc (qw(nobuf rw)) {
    my ($old, $new) = rotate($sim);
    like(http_get("/$loc/contacts"), qr{^HTTP/1\.1 200 }, "$loc: 200");
    is_deeply([ tokens(hub_calls($sim)) ], [ $old, $new ],
              "$loc: old token, then new");
    is_deeply([ map { $_->{path} } hub_calls($sim) ],
              [ ('/elements/api-v2/hubs/crm/contacts') x 2 ],
              "$loc: same path both times");
}

# a request with a body, or another method: the 401 passes, the token is
# still refreshed for the next request
for my $case ([ POST => '/crm/contacts', '{"name":"x"}' ],
              [ GET => '/crm/contacts/2', '{}' ],
              [ PUT => '/crm/contacts/2', undef ])
{
    my ($method, $uri, $body) = @$case;
    my $name = $method . (defined $body ? ' with a body' : ' without');

    my ($old, $new) = rotate($sim);
    my $r = request($method => $uri, body => $body);

    like($r, qr{^HTTP/1\.1 401 }, "$name: the 401 passes");
    like(http_body($r), qr/"message"/, "$name: the hub's own 401");
    is(scalar hub_calls($sim), 1, "$name: sent once");

    like(http_get('/crm/contacts'), qr/ 200 /, "$name: then success");
    is((tokens(hub_calls($sim)))[-1], $new, "$name: with the new token");
    is($sim->count('GET /instances/{id}'), 1, "$name: one GET by id");
}

# proxy_intercept_errors with an error_page for 401: the page is the answer
# (and, as without oc_retry_on_401, the token is not marked stale: the page
# is served from another location); with proxy_cache: the 401 passes
for my $loc (qw(ie cached)) {
    rotate($sim);
    my $r = http_get("/$loc/contacts");
    like($r, qr{^HTTP/1\.1 401 }, "$loc: 401");
    like(http_body($r), $loc eq 'ie' ? qr/^denied$/ : qr/"message"/,
         $loc eq 'ie' ? "$loc: the error page" : "$loc: the hub's 401");
    is(scalar hub_calls($sim), 1, "$loc: sent once");
    like(http_get('/crm/contacts'), qr/ 200 /, "$loc: then success");
}

# oc_retry_on_401 off in a location
{
    my ($old, $new) = rotate($sim);
    like(http_get('/off/contacts'), qr{^HTTP/1\.1 401 },
         'off in the location: the 401 passes');
    is(scalar hub_calls($sim), 1, 'off in the location: sent once');
    like(http_get('/off/contacts'), qr/ 200 /, 'off: then success');
}

# HTTP/1.1 keep-alive: the connection carries on after a replay; HTTP/2
# (one request per connection: curl 7.88 fails a second one on a reused
# prior-knowledge connection, with or without this module)
{
    my ($old, $new) = rotate($sim);
    my $base = 'http://127.0.0.1:' . OCTest::port(8080);
    my $out = `curl -s -w '%{http_code} %{num_connects}\\n' \\
               -o /dev/null $base/crm/contacts \\
               -o /dev/null $base/crm/contacts/3 -o /dev/null $base/ping 2>&1`;
    is($out, "200 1\n200 0\n200 0\n", 'keep-alive: 200s on one connection');
    is_deeply([ tokens(hub_calls($sim)) ], [ $old, $new, $new ],
              'keep-alive: replayed once, then the new token');

    ($old, $new) = rotate($sim);
    my $h2 = 'http://127.0.0.1:' . OCTest::port(8081);
    $out = join '', map {
        `curl -s --http2-prior-knowledge -o /dev/null \\
         -w '%{http_version} %{http_code}\\n' $h2$_ 2>&1`
    } qw(/crm/contacts /crm/contacts/3);
    is($out, "2 200\n2 200\n", 'HTTP/2: 200s');
    is_deeply([ tokens(hub_calls($sim)) ], [ $old, $new, $new ],
              'HTTP/2: replayed once, then the new token');
}

# the client goes away while the replay waits for the token: nothing is left
# waiting, the request is logged with 499
{
    rotate($sim);
    $sim->fault(endpoint => 'GET /instances/{id}', count => 1, delay => 1.5);

    is(http_get('/crm/contacts', timeout => 0.5), '',
       'client gone: no answer within its timeout');
    ok(wait_for(sub { $t->read_file('access.log') =~ m{"GET /crm/contacts }
                                                     . qr{HTTP/1\.0" 499 } },
                4), 'client gone: 499 in the access log');
    ok(wait_for(sub { http_get('/crm/contacts') =~ m{^HTTP/1\.1 200 } }, 4),
       'client gone: then success');
    is(scalar hub_calls($sim), 2, 'client gone: not sent again');
}

# the replay waits oc_wait_timeout for the new token, like any request
{
    rotate($sim);
    $sim->fault(endpoint => 'GET /instances/{id}', count => 1, delay => 3.5);

    my $start = time;
    my $r = http_get('/crm/contacts', timeout => 10);
    my $took = time - $start;
    like($r, qr{^HTTP/1\.1 503 }, 'slow token: 503');
    like(http_body($r) // '', qr/timed out waiting/, 'slow token: timed out');
    ok($took > 1.5 && $took < 3.4, 'slow token: after oc_wait_timeout')
        or diag "took $took s";
    is(scalar hub_calls($sim), 1, 'slow token: sent once');
    ok(wait_for(sub { http_get('/crm/contacts') =~ m{^HTTP/1\.1 200 } }, 4),
       'slow token: then success');
}

# a second 401 reaches the client: one replay only (last: Open Connectors
# stands by the token, so 401s may not mark it stale for a while)
{
    $sim->reset;
    $sim->fault(endpoint => 'GET /hubs/contacts', count => 2, status => 401);
    my $before = () = $t->grep_log(qr/sending the request again/);

    my $r = http_get('/crm/contacts');
    like($r, qr{^HTTP/1\.1 401 }, 'second 401: passed to the client');
    like(http_body($r), qr/Injected fault/, "second 401: the hub's body");
    is(scalar hub_calls($sim), 2, 'second 401: sent twice, no more');
    is(scalar(() = $t->grep_log(qr/sending the request again/)) - $before, 1,
       'second 401: one replay');

    like(http_get('/crm/contacts'), qr/ 200 /, 'second 401: then success');
}

# every upstream connection and client connection was closed; a quick
# graceful stop: no timer left behind
{
    my $port = $sim->port;
    my $start = time;
    $t->stop;
    ok(time - $start < 3, 'graceful stop within 3s');

    my $log = $t->read_file('debug.log');
    my $up = () = $log =~ /\bconnect to 127\.0\.0\.1:$port, fd:/g;
    my $up_closed = () = $log =~ /close http upstream connection: /g;
    my $cl = () = $log =~ /\*\d+ accept: /g;
    my $cl_closed = () = $log =~ /close http connection: /g;

    cmp_ok($up, '>', 30, "upstream connections: $up");
    is($up_closed, $up, 'every upstream connection closed');
    is($cl_closed, $cl, "every client connection closed ($cl)");
}

# the token cannot be replaced: the replay fails closed with a 503, it is
# not sent with the rejected token
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->seed_instance(name => 'acme-crm', auth => 'emailPassword',
                        config => { 'pipedrive.email' => 'ops@example.com',
                                    'pipedrive.password' => 'pd-password' });
    $t->write_conf(conf(create => 'off'))->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'deleted: warm');

    my ($inst) = @{ $sim->instances };
    $sim->delete_instance($inst->{id});
    $sim->reset;

    my $r = http_get('/crm/contacts');
    like($r, qr{^HTTP/1\.1 503 }, 'deleted, create off: 503, fail closed');
    is(scalar hub_calls($sim), 1, 'deleted, create off: sent once');
    is($sim->count('POST /instances'), 0, 'deleted, create off: no POST');
    like(http_get('/ping'), qr/ 200 /, 'deleted, create off: still serving');
    $t->stop;
}

# 50 concurrent GETs meet the 401 in 2 workers: all 200, one re-resolution
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(conf(workers => 2, hub => '127.0.0.1:' . $sim->port))
      ->run;

    my @warm = http_many(4, '/crm/contacts');
    is_deeply(statuses(@warm), { 200 => 4 }, 'concurrent: warm');

    my ($old, $new) = rotate($sim);
    my @r = http_many(50, '/crm/contacts');

    is_deeply(statuses(@r), { 200 => 50 }, 'concurrent: every request 200')
        or diag explain statuses(@r);
    is((grep { status_lines($_) == 1 } @r), 50,
       'concurrent: one answer each');
    is($sim->count('GET /instances/{id}'), 1, 'concurrent: one GET by id');
    is($sim->count('POST /instances'), 0, 'concurrent: no POST');

    my @hub = hub_calls($sim);
    my @seen = tokens(@hub);
    my $with_old = grep { $_ eq $old } @seen;
    my $with_new = grep { $_ eq $new } @seen;
    is($with_old + $with_new, scalar @hub, 'concurrent: old or new token');
    is($with_new, 50, 'concurrent: 50 answers with the new token');
    is(scalar($t->grep_log(qr/sending the request again/)), $with_old,
       'concurrent: each 401 replayed once');

    like(http_get('/crm/contacts'), qr/ 200 /, 'concurrent: still serving');

    # the same with keep-alive connections to the upstream: the first
    # attempt's connection, with the 401's body unread, is not reused
    ($old, $new) = rotate($sim);
    @r = http_many(20, '/ka/contacts');
    is_deeply(statuses(@r), { 200 => 20 }, 'upstream keep-alive: all 200')
        or diag explain statuses(@r);
    @r = http_many(20, '/ka/contacts');
    is_deeply(statuses(@r), { 200 => 20 }, 'upstream keep-alive: again');
    is(scalar(grep { $_ eq $new } tokens(hub_calls($sim))), 40,
       'upstream keep-alive: 40 answers with the new token');
    $t->stop;
}

# the replay is an internal redirect to the URI the location was chosen
# for: a request that came by an error_page or a "rewrite ... last" comes
# back to the same location, one that came to a named location comes back
# the way it came; a second 401, to the new token, reaches the
# client; nothing of the tokens or secrets reaches the client or the logs
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(conf())->run;

    like(http_get('/up/contacts'), qr/ 200 /, 'redirected: warm');
    my @tokens;

    for my $case ([ '/via/x?a=1', 'error_page' ], [ '/old/contacts', 'last' ],
                  [ '/named/x', 'named location' ])
    {
        my ($uri, $name) = @$case;
        my ($old, $new) = rotate($sim);
        push @tokens, $old, $new;
        my $r = http_get($uri);

        like($r, qr{^HTTP/1\.1 200 }, "$name: 200, not the 401");
        is(status_lines($r), 1, "$name: one answer on the wire");
        is(scalar(() = $r =~ /^Content-Length:/mgi), 1,
           "$name: one Content-Length, none left from the 401");
        like(http_body($r), qr/^\[/, "$name: the hub's body");
        my @hub = hub_calls($sim);
        is_deeply([ tokens(@hub) ], [ $old, $new ],
                  "$name: two hub calls, old token, then new");
        is_deeply([ map { $_->{path} } @hub ],
                  [ ('/elements/api-v2/hubs/crm/contacts') x 2 ],
                  "$name: the same location both times");
        is($sim->count('GET /instances/{id}'), 1, "$name: one GET by id");
        is($sim->count('POST /instances'), 0, "$name: no POST");
    }

    ok(wait_for(sub { ($t->read_file('up.log') // '') =~ tr/\n// >= 3 }),
       'redirected: logged');
    my @up = split /\n/, $t->read_file('up.log');
    like($up[1], qr{^/via/x\?a=1 /up/contacts 200 "[^"]*401 : 200"$},
         'error_page: $upstream_status shows both answers');
    like($up[2], qr{^/old/contacts /up/contacts 200 "401 : 200"$},
         'last: $upstream_status shows both answers');

    # a second 401, to the new token: passed on, no third call
    my ($old, $new) = rotate($sim);
    push @tokens, $old, $new;
    $sim->fault(endpoint => 'GET /hubs/contacts', count => 2, status => 401);

    my $r = http_get('/up/contacts');
    like($r, qr{^HTTP/1\.1 401 }, 'second 401 to the new token: passed on');
    is(status_lines($r), 1, 'second 401 to the new token: one answer');
    like(http_body($r), qr/Injected fault/,
         "second 401 to the new token: the hub's body");
    is_deeply([ tokens(hub_calls($sim)) ], [ $old, $new ],
              'second 401 to the new token: old token, then new, no more');
    is(scalar $t->grep_log(qr/sending the request again/), 4,
       'one replay per request');
    is($sim->count('POST /instances'), 0, 'second 401: no POST');

    # the second 401 marks the new token stale in turn: one more GET by
    # id, which stands by it
    ok(wait_for(sub { $sim->count('GET /instances/{id}') == 2 }),
       'second 401: two GETs by id');
    my $next = http_get('/up/contacts');
    like($next, qr{^HTTP/1\.1 200 }, 'second 401: then success');
    is((tokens(hub_calls($sim)))[-1], $new, 'second 401: with the new token');
    is($sim->count('GET /instances/{id}'), 2, 'second 401: no more GETs');

    my @secrets = ($sim->user_secret, $sim->org_secret, @tokens);
    my $logs = join '', map { $t->read_file($_) // '' }
                        qw(error.log access.log up.log);
    ok(!(grep { index($logs . $r . $next, $_) >= 0 } @secrets),
       'no token or secret in the logs or the answer');
    $t->stop;
}

# default off: the 401 reaches the client; on in one location only: that
# location replays (the handler that notes the URI is only there then)
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $t->write_conf(conf(http => ''))->run;

    like(http_get('/crm/contacts'), qr/ 200 /, 'default: warm');
    rotate($sim);
    like(http_get('/crm/contacts'), qr{^HTTP/1\.1 401 },
         'default: the 401 reaches the client');
    is(scalar hub_calls($sim), 1, 'default: sent once');
    like(http_get('/crm/contacts'), qr/ 200 /, 'default: then success');

    # on in one location only
    my ($old, $new) = rotate($sim);
    like(http_get('/lon/contacts'), qr{^HTTP/1\.1 200 },
         'on in one location only: 200');
    is_deeply([ tokens(hub_calls($sim)) ], [ $old, $new ],
              'on in one location only: old token, then new');
    $t->stop;
}

# nginx -t: "on" or "off", once per level
{
    my $t = OCTest->new;

    $t->write_conf(conf(http => 'oc_retry_on_401 maybe;'));
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'nginx -t: a bad value fails');
    like($out, qr/invalid value "maybe" in "oc_retry_on_401"/,
         'nginx -t: the bad value named');

    $t->write_conf(conf(http => 'oc_retry_on_401 on; oc_retry_on_401 off;'));
    ($rc, $out) = $t->test_config;
    like($out, qr/"oc_retry_on_401" directive is duplicate/,
         'nginx -t: a duplicate fails');
}

done_testing;
