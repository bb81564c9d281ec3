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
use JSON::PP;

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

# the error log since the last restart()
my $FROM = 0;

sub log_lines {
    my ($t, $re) = @_;
    return grep { $_ =~ $re } split /\n/, substr($t->error_log, $FROM);
}

# waits until $n blocks logged a resolution; returns how many did
sub wait_resolved {
    my ($t, $n, $re) = @_;
    $re //= qr/\[notice\].*oc_instance "b\d+": \w[\w-]* instance \d+ /;
    my $end = time + 15;
    my $got;
    while (($got = () = log_lines($t, $re)) < $n && time < $end) {
        sleep 0.1;
    }
    return $got;
}

# ---- oc_api_connections ----------------------------------------------------

{
    my $t = OCTest->new;
    $FROM = 0;
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
    $FROM = 0;
    my $sim = $t->sim;
    $sim->latency(0.2);

    $t->write_conf(scale_conf(6))->run;

    is(wait_resolved($t, 6), 6, 'default 8: six blocks resolved');
    is($sim->inflight->{peak}, 6, 'default 8: six calls at once');
    $t->stop;
}

# stopping while calls wait for a connection: they leave the queue
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    $sim->latency(0.5);

    $t->write_conf(scale_conf(4, http => 'oc_api_connections 1;'))->run;
    my $end = time + 5;
    sleep 0.05 until $sim->inflight->{inflight} >= 1 || time > $end;
    is($sim->inflight->{inflight}, 1, 'queued: one call open, three wait');
    my $master = $t->master_pid;
    $t->stop;
    ok(!OCTest::_alive($master), 'queued: nginx stopped with calls waiting');
    unlike($t->error_log, qr/\[(alert|crit)\]/, 'queued: nothing went wrong');
}

{
    my $t = OCTest->new;
    $FROM = 0;
    $t->write_conf(scale_conf(1, http => 'oc_api_connections 0;'));
    my ($rc, $out) = $t->test_config;
    like($out, qr/value must be between 1 and 1024 in \S+nginx\.conf:\d+/,
         'oc_api_connections 0: nginx -t gives the bounds and the line');
}

# ---- lookups ---------------------------------------------------------------

my %CONFIG = ('pipedrive.email' => 'ops@example.com',
              'pipedrive.password' => 'pd-password');
my $LIST = 'GET /elements/{key}/instances';

sub list_calls {
    my ($sim) = @_;
    my @q = map { $_->{query} } grep { $_->{endpoint} eq $LIST }
            @{ $sim->calls };
    return (scalar(grep { /tags%5B%5D=/ } @q),
            scalar(grep { !/tags%5B%5D=/ } @q));
}

sub patches {
    my ($sim) = @_;
    return map { decode_json($_->{body}) }
           grep { $_->{endpoint} eq 'PATCH /instances/{id}' } @{ $sim->calls };
}

# a new nginx (a new zone) against the same simulator
sub restart {
    my ($t, $sim, $n, $conf) = @_;
    my $sims = delete $t->{sims};
    $t->stop;
    $t->{sims} = $sims;
    $FROM = length $t->error_log;
    $sim->reset;
    $t->write_conf($conf)->run;
    return wait_resolved($t, $n);
}

# an instance made by hand: found by the scan, tagged, then found by tag
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    my $inst = $sim->seed_instance(name => 'scale-1', config => \%CONFIG);
    $sim->seed_many(300, name => 'other-{n}', configuration => \%CONFIG);

    $t->write_conf(scale_conf(1))->run;
    is(wait_resolved($t, 1), 1, 'by hand: resolved');
    my ($tag, $scan) = list_calls($sim);
    is($tag, 1, 'by hand: one tag search');
    is($scan, 2, 'by hand: one scan, 301 instances in two pages of 200');
    like(($sim->calls)->[0]{query} // '', qr/tags%5B%5D=ngx-oc%3Apipedrive/,
         'by hand: the tag search comes first');
    is($sim->count('POST /instances'), 0, 'by hand: no POST');
    my @p = patches($sim);
    is(scalar @p, 1, 'by hand: one PATCH');
    ok((grep { $_ eq 'ngx-oc:pipedrive:scale-1' } @{ $p[0]{tags} }),
       'by hand: the PATCH adds the identity tag');
    is(hub_token_of($t, $sim, '/b1/contacts'), $inst->{token},
       'by hand: its token used');

    is(restart($t, $sim, 1, scale_conf(1)), 1, 'restart: resolved');
    ($tag, $scan) = list_calls($sim);
    is($tag, 1, 'restart: one tag search');
    is($scan, 0, 'restart: no scan');
    is(scalar(patches($sim)), 0, 'restart: no write');
    is($sim->count('POST /instances'), 0, 'restart: no POST');
    $t->stop;
}

# an instance tagged with the PBKDF2 digest of older versions
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    my $old = legacy_digest('pipedrive', 'scale-1', 'emailPassword', [],
                            \%CONFIG);
    my $inst = $sim->seed_instance(name => 'scale-1', config => \%CONFIG,
                                   tags => ["ngx-oc-digest:$old"]);

    $t->write_conf(scale_conf(1))->run;
    is(wait_resolved($t, 1), 1, 'old digest: resolved');
    ok($t->grep_log(qr/instance $inst->{id} carries the digest of an older/),
       'old digest: recognised');
    my @p = patches($sim);
    is(scalar @p, 1, 'old digest: one PATCH');
    is_deeply([sort keys %{ $p[0] // {} }], ['tags'],
              'old digest: the tags alone, no configuration write');
    my @tags = @{ $sim->instances->[0]{tags} };
    ok((grep { $_ eq 'ngx-oc:pipedrive:scale-1' } @tags),
       'old digest: identity tag written');
    ok((grep { /^ngx-oc-digest-v2:[0-9a-f]{40}$/ } @tags),
       'old digest: keyed digest written');
    ok(!(grep { /^ngx-oc-digest:/ } @tags), 'old digest: old tag gone');

    is(restart($t, $sim, 1, scale_conf(1)), 1, 'old digest restart: resolved');
    is(scalar(patches($sim)), 0, 'old digest restart: no write');
    is(scalar(() = log_lines($t, qr/older version/)), 0,
       'old digest restart: nothing to recognise');
    $t->stop;
}

# twenty blocks that need a scan at once share one
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    $sim->seed_many(20, name => 'scale-{n}', configuration => \%CONFIG);
    $sim->seed_many(500, name => 'other-{n}', configuration => \%CONFIG);

    $t->write_conf(scale_conf(20))->run;
    is(wait_resolved($t, 20), 20, 'twenty: all resolved');
    my ($tag, $scan) = list_calls($sim);
    is($tag, 20, 'twenty: a tag search each');
    is($scan, 3, 'twenty: one shared scan of 520 instances, 3 pages');
    is($sim->count('POST /instances'), 0, 'twenty: no POST');
    is(scalar(() = $t->grep_log(qr/duplicate/)), 0, 'twenty: no duplicate');
    $t->stop;
}

# a deleted instance: one GET, a tag search, the POST and the look after it
# (the look that makes hosts that created at once settle on one instance)
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    $sim->seed_many(500, name => 'other-{n}', configuration => \%CONFIG);
    $t->write_conf(scale_conf(1))->run;
    like(http_get('/b1/contacts'), qr/ 200 /, 'deleted: warm');
    my ($old) = grep { $_->{name} eq 'scale-1' } @{ $sim->instances };
    $sim->delete_instance($old->{id});
    $sim->reset;

    like(http_get('/b1/contacts'), qr/ 401 /, 'deleted: the 401 passes');
    like(http_get('/b1/contacts'), qr/ 200 /, 'deleted: then success');
    is($sim->count('GET /instances/{id}'), 1, 'deleted: one GET by id');
    my ($tag, $scan) = list_calls($sim);
    is($scan, 0, 'deleted: no scan of the 500 others');
    is($tag, 2, 'deleted: a tag search before the POST and one after');
    is($sim->count('POST /instances'), 1, 'deleted: one POST');
    $t->stop;
}

# a new token (a 401, then GET /instances/{id}): no write, the tags stay
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim;
    $t->write_conf(scale_conf(1))->run;
    like(http_get('/b1/contacts'), qr/ 200 /, 'rotated: warm');
    my ($inst) = @{ $sim->instances };
    $sim->rotate($inst->{id});
    $sim->reset;

    like(http_get('/b1/contacts'), qr/ 401 /, 'rotated: the 401 passes');
    like(http_get('/b1/contacts'), qr/ 200 /, 'rotated: then success');
    is($sim->count('GET /instances/{id}'), 1, 'rotated: one GET by id');
    is($sim->count('PATCH /instances/{id}'), 0, 'rotated: no write');
    ok((grep { $_ eq 'ngx-oc:pipedrive:scale-1' }
        @{ $sim->instances->[0]{tags} }), 'rotated: the identity tag stays');
    $t->stop;
}

# an account larger than the old cap of 1,000 pages
{
    my $t = OCTest->new;
    $FROM = 0;
    my $sim = $t->sim(max_page_size => 1);
    $sim->seed_many(1050, name => 'other-{n}', configuration => \%CONFIG);
    my $inst = $sim->seed_instance(name => 'scale-1', config => \%CONFIG);

    $t->write_conf(scale_conf(1))->run;
    is(wait_resolved($t, 1,
       qr/\[notice\].*oc_instance "b1": \w+ instance $inst->{id} /),
       1, '1,051 pages: found');
    my ($tag, $scan) = list_calls($sim);
    is($scan, 1051, '1,051 pages: each read once');
    ok($t->grep_log(qr/\[notice\].*a large account: .* took 1051 pages/),
       '1,051 pages: logged as large');
    $t->stop;
}

sub legacy_digest {
    my ($element, $name, $auth, $tags, $config) = @_;
    my $f = sub { length($_[0]) . ':' . $_[0] };
    my $text = join '', $f->($element), $f->($name), $f->($auth), 'T',
        (map { $f->($_) } sort @$tags), 'C',
        (map { $f->($_) . $f->($config->{$_}) } sort keys %$config);
    my $py = 'import hashlib,sys; t=sys.stdin.buffer.read(); '
           . 'h=hashlib.sha1(t).digest(); '
           . 'print(hashlib.pbkdf2_hmac("sha256", h, sys.argv[1].encode(), '
           . '20000, 20).hex())';
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open(my $in, '|-', '/usr/bin/python3', '-c', $py, $name) or exit 1;
        print $in $text;
        close $in;
        exit 0;
    }
    chomp(my $hex = <$fh>);
    close $fh;
    return $hex;
}

sub hub_token_of {
    my ($t, $sim, $uri) = @_;
    http_get($uri);
    return hub_token($sim);
}

done_testing;
