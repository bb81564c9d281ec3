#!/usr/bin/perl

# Log hygiene: a full scenario with "error_log ... debug" (provision,
# traffic, an upstream 401 and the re-resolution, a reconcile with a new
# secret, a refused request, an oauth2 consent and re-authorization)
# leaves no token and no secret in any log, in a response or in the status
# output, except in the entries nginx's proxy module writes at debug level
# for the headers of every proxied request, which no module can suppress
# (see docs/security.md).

use strict;
use warnings;

BEGIN { $ENV{OC_TEST_LOG_LEVEL} = 'debug' }

use Test::More;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;

sub random_hex { join '', map { sprintf '%02x', int rand 256 } 1 .. $_[0] }

my %secret = (
    user      => 'u-' . random_hex(12),
    org       => 'o-' . random_hex(12),
    email     => 'crm-' . random_hex(6) . '@acme.example',
    password  => 'pw-' . random_hex(12),
    password2 => 'pw2-' . random_hex(12),
    app_secret => 'app-' . random_hex(12),
);

my $t = OCTest->new;
my $dir = $t->testdir;
my $sim = $t->sim(user_secret => $secret{user}, org_secret => $secret{org});

$t->write_file('oc/user.secret', "$secret{user}\n", mode => 0600);
$t->write_file('oc/org.secret', "$secret{org}\n", mode => 0600);
$t->write_file('oc/pd.password', "$secret{password}\n", mode => 0600);

sub conf {
    my ($password) = @_;

    return <<"EOF";
%%LOAD_MODULE%%
%%TEST_GLOBALS%%
worker_processes 2;
events {}

http {
    %%TEST_GLOBALS_HTTP%%

    oc_api_url              %%OC_API_URL%%;
    oc_user_secret          file:oc/user.secret;
    oc_organization_secret  file:oc/org.secret;
    oc_api_retries          0;

    oc_instance pd {
        element  pipedrive;
        name     acme-crm;
        config   pipedrive.email     $secret{email};
        config   pipedrive.password  $password;
    }

    oc_instance oa {
        element  pipedrive;
        name     acme-oauth;
        auth     oauth2;
        config   oauth.api.key       pd-app-key;
        config   oauth.api.secret    $secret{app_secret};
        config   oauth.callback.url  http://127.0.0.1:%%PORT_8080%%/oauth/callback;
    }

    server {
        listen  127.0.0.1:%%PORT_8080%%;

        location /crm/ {
            oc_pass     pd;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location /oa/ {
            oc_pass     oa;
            proxy_pass  %%OC_API_URL%%/hubs/crm/;
        }

        location = /oauth/start {
            oc_oauth_start  oa;
        }

        location = /oauth/callback {
            oc_oauth_callback  oa;
        }

        location = /status {
            oc_status;
        }
    }
}
EOF
}

$t->write_conf(conf('file:oc/pd.password'));

my @outputs;        # [what, text]: responses and status the module wrote

sub get {
    my ($uri, %opt) = @_;
    my $r = http_get($uri, %opt);
    push @outputs, ["GET $uri", $r];
    return $r;
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

sub pd_state { (get('/status') =~ /"pd":\{[^{]*"state":"(\w+)"/)[0] // '' }

# Each step drives one part of the module's life.  The oauth2 app's client
# id (oauth.api.key) is public by design: it is in the consent URL the
# browser follows.  The grant code and the state are in the callback's
# request line, as with any OAuth2 client, and work once.

my @steps = (

    provision => sub {
        $t->run;
        like(get('/crm/contacts'), qr/ 200 /, 'provision: 200');
        is($sim->count('POST /instances'), 1, 'provision: created');
    },

    traffic => sub {
        my $ok = 0;
        for my $i (1 .. 20) {
            $ok++ if get('/crm/contacts',
                         headers => "Authorization: Basic Y2xpZW50OnB3\r\n")
                     =~ / 200 /;
        }
        is($ok, 20, 'traffic: 20 requests');
        like(http_post('/crm/contacts', '{"name":"Ada"}',
                       headers => "Content-Type: application/json"),
             qr/ 20[01] /, 'traffic: a POST');
    },

    '401 and re-resolution' => sub {
        my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
        $sim->rotate($inst->{id});
        like(get('/crm/contacts'), qr/ 401 /, '401: old token');
        like(get('/crm/contacts'), qr/ 200 /, '401: new token');
        is($sim->count('GET /instances/{id}'), 1, '401: re-resolved');
    },

    'reconcile with a new secret' => sub {
        $t->write_conf(conf($secret{password2}));
        $t->reload;
        ok(wait_for(sub { $sim->count('PATCH /instances/{id}') == 1 }),
           'reconcile: one update');
        like(get('/crm/contacts'), qr/ 200 /, 'reconcile: 200');
    },

    'oauth2 consent and re-authorization' => sub {
        my $port = OCTest::port(8080);
        like(get('/oa/contacts'), qr/ 503 /, 'oauth2: before consent, 503');

        my $patches = $sim->count('PATCH /instances/{id}');
        $sim->consent('allow');
        for my $round ('consent', 're-authorization') {
            my $r = $sim->request(GET => "http://127.0.0.1:$port/oauth/start",
                                  max_redirect => 5);
            push @outputs, ["oauth2 $round", $r->{content}];
            like($r->{content}, qr/is authorized/, "oauth2: $round");
            like(get('/oa/contacts'), qr/ 200 /, "oauth2: $round, 200");
        }
        is($sim->count('PATCH /instances/{id}'), $patches + 1,
           'oauth2: re-authorized with a PATCH');
    },

    'refused' => sub {
        my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
        $sim->fault(endpoint => 'GET /instances/{id}', count => 1,
                    status => 400,
                    body => '{"requestId":"req-1","message":"bad"}',
                    headers => { 'Content-Type' => 'application/json' });
        $sim->rotate($inst->{id});
        like(get('/crm/contacts'), qr/ 401 /, 'refused: 401');
        ok(wait_for(sub { pd_state() eq 'failed' }), 'refused: failed');
        like(get('/crm/contacts'), qr/ 503 /, 'refused: 503');
    },
);

while (my ($name, $step) = splice @steps, 0, 2) {
    $step->();
}

push @outputs, ['status', http_get('/status')],
               ['status prometheus', http_get('/status?format=prometheus')];

# every token the simulator handed out or saw
my @tokens = map { ($_->{authorization} // '') =~ /Element (\S+)/ }
             @{ $sim->calls };
push @tokens, map { $_->{token} } @{ $sim->instances };
my %uniq = map { $_ => 1 } @tokens;
@tokens = keys %uniq;

$t->stop;
cmp_ok(scalar @tokens, '>=', 3, scalar(@tokens) . ' tokens over the scenario');

my @needles = ((map { ["token", $_] } @tokens),
               (map { ["secret $_", $secret{$_}] } sort keys %secret));

# a needle is found when any 8 characters of it are, or its first 5:
# a token may be shown as its first 4 characters, nothing more
sub leaks {
    my ($text) = @_;
    my @found;

    for my $n (@needles) {
        my ($what, $v) = @$n;
        my @parts = (substr($v, 0, 5),
                     map { substr($v, $_, 8) } 0 .. length($v) - 8);
        push @found, $what if grep { index($text, $_) >= 0 } @parts;
    }

    return @found;
}

# the error log as entries: continuation lines belong to the entry above
my @entries;
for my $line (split /\n/, $t->error_log) {
    if ($line =~ m{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d } || !@entries) {
        push @entries, $line;
    } else {
        $entries[-1] .= "\n$line";
    }
}

cmp_ok(scalar @entries, '>', 1000, scalar(@entries) . ' log entries');
ok(grep({ /\[debug\] .* oc pass "pd": token of generation/ } @entries),
   'the debug traces of the module are in the log');

# nginx's proxy module: each header of the request it builds, and the whole
# header block, at debug level; the script engine's traces when a
# proxy_set_header passes the header on
my $EXEMPT = qr/\[debug\]\ \d+\#\d+:\ \*\d+
                \ (?:http\ proxy\ header:|http\ script\ (?:copy|var):)/x;

my (@exempt, @leaks);
for my $e (@entries) {
    my @found = leaks($e) or next;
    if ($e =~ $EXEMPT) {
        push @exempt, $e;
    } else {
        push @leaks, "@found: $e";
    }
}

ok(!@leaks, 'error.log: no token or secret outside the proxy module\'s'
            . ' debug entries')
    or diag(join "\n", map { substr($_, 0, 300) } grep { defined }
                                                   @leaks[0 .. 9]);
ok(scalar @exempt, scalar(@exempt) . ' proxy debug entries show the'
                   . ' Authorization header, as docs/security.md warns');

for my $file (qw(access.log nginx.stderr)) {
    my @found = leaks($t->read_file($file) // '');
    ok(!@found, "$file: no token or secret") or diag("@found");
}

# the outputs are real ones, with the instance in the status, and the
# search finds a token or a secret in any of them
my ($status) = map { $_->[1] } grep { $_->[0] eq 'status' } @outputs;
like($status // '', qr/"pd":\{/, 'the status output shows the instance');
cmp_ok(scalar @outputs, '>=', 30,
       scalar(@outputs) . ' responses and status outputs');
ok(grep({ $_ eq 'token' } leaks("$status $tokens[0]")),
   'the search finds a token in an output');
ok(grep({ $_ eq 'secret org' } leaks("$status $secret{org}")),
   'the search finds a secret in an output');

my @leaky = map { my @found = leaks($_->[1] // '');
                  @found ? "$_->[0]: @found" : () } @outputs;
is_deeply(\@leaky, [], 'responses and status outputs: no token or secret');

done_testing;
