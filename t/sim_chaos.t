# Simulator: what the chaos run needs (reset fault, witness file, token
# history, state kept across a restart).

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use OCSim;

my $dir = tempdir('oc-simchaos-XXXXXXXX', TMPDIR => 1, CLEANUP => 1);
my %files = (witness => "$dir/witness.jsonl", state_file => "$dir/state");
my $sim = OCSim->start(%files);
my $auth = $sim->platform_auth;

sub witness {
    open(my $fh, '<', $files{witness}) or return ();
    return map { decode_json($_) } <$fh>;
}

# ---- reset ------------------------------------------------------------------

$sim->fault(endpoint => 'GET /instances', reset => 1);
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $sim->port,
                              Timeout => 5) or die "connect: $!";
print $s "GET /elements/api-v2/instances HTTP/1.1\r\nHost: x\r\n"
    . "Authorization: $auth\r\n\r\n";
my $buf = '';
my $n = IO::Select->new($s)->can_read(5) ? sysread($s, $buf, 4096) : -1;
ok(!defined $n && $!{ECONNRESET}, 'reset fault: the connection is reset')
    or diag("read returned " . ($n // 'undef') . ": $!");
is($buf, '', 'reset fault: no answer at all');
is($sim->api(GET => '/instances')->{status}, 200, 'the next call is answered');

# ---- witness and token history ---------------------------------------------

my $inst = $sim->seed_instance(name => 'w1',
    config => { 'pipedrive.email' => 'e', 'pipedrive.password' => 'p' });
my $old = $inst->{token};
my $hub = '/hubs/crm/contacts';
$sim->api(GET => $hub, undef, element => $old,
          headers => { 'X-Chaos-Rid' => 'r1', 'X-Chaos-Loc' => 'e' });
my $new = $sim->rotate($inst->{id});
$sim->api(GET => $hub, undef, element => $old);
$sim->api(GET => $hub, undef, element => $new,
          auth => "User x, Organization y, Element $new");
$sim->api(GET => $hub, undef, auth => 'Bearer client');

my @w = grep { $_->{ep} =~ /hubs/ } witness();
is(scalar @w, 4, 'witness: one line per hub call');
is_deeply([ @{ $w[0] }{qw(rid loc auth tok_id tok_name)} ],
          ['r1', 'e', 'triple', $inst->{id}, 'w1'],
          'witness: request id, location, exact triple, whose token');
ok($w[0]{live} && !$w[1]{live}, 'witness: live, then rotated away');
is($w[1]{tok_id}, $inst->{id}, 'witness: a rotated token is still known');
is($w[2]{auth}, 'bad-triple', 'witness: wrong secrets with a token');
ok($w[3]{auth} eq 'other' && $w[3]{client}, 'witness: a client header');
my $all = do { local $/; open(my $fh, '<', $files{witness}); <$fh> };
ok(index($all, $old) < 0 && index($all, $sim->user_secret) < 0,
   'witness: no token, no secret');

my %tok = map { $_->{token} => $_ } @{ $sim->tokens };
ok($tok{$old} && $tok{$new}, 'tokens: the old and the new token');
is($tok{$old}{id}, $inst->{id}, 'tokens: with their instance');

# ---- restart with the state file --------------------------------------------

my $port = $sim->port;
$sim->stop;
ok(-s $files{state_file}, 'state written at stop');
$sim = OCSim->start(%files, port => $port);
my ($back) = grep { $_->{id} == $inst->{id} } @{ $sim->instances };
is($back && $back->{token}, $new, 'restart: the instance and its token');
is($sim->api(GET => $hub, undef, element => $new)->{status}, 200,
   'restart: the token works');
my $next = $sim->seed_instance(name => 'w2');
ok($next->{id} > $inst->{id}, 'restart: ids keep increasing');
ok({ map { $_->{token} => 1 } @{ $sim->tokens } }->{$old},
   'restart: the token history is kept');

# ---- shutdown: the state saved under the lock, at once ----------------------

my $rot = $sim->rotate($next->{id});
is($sim->shutdown, 0, 'shutdown: the simulator exits by itself');
$sim = OCSim->start(%files, port => $port);
($back) = grep { $_->{id} == $next->{id} } @{ $sim->instances };
is($back && $back->{token}, $rot, 'shutdown: the last change is kept');

$sim->stop;
done_testing;
