#!/usr/bin/perl

# A transfer given up in the middle: the module takes curl's socket out of
# the event loop before the descriptor is gone, never after.  The calls go
# to a loopback listener whose accept queue is full, so curl's connect
# hangs; a reload ends the old worker's transfer and the stop the new
# worker's, both while curl connects.  libcurl 7.88 closes such a socket
# without the close callback and says CURL_POLL_REMOVE only after: nginx
# logged "epoll_ctl(2, N) failed (9: Bad file descriptor)" as an alert
# until the module learnt to tell a socket curl closed behind its back.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_ERROR);
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;

# a listener that never accepts: once its queue is full, connects hang
my $lsn = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Listen => 1, Proto => 'tcp', ReuseAddr => 1)
    or die "listen: $!";
my $api = 'http://127.0.0.1:' . $lsn->sockport . '/elements/api-v2';

my @fill;
for (1 .. 8) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $lsn->sockport,
                                  Proto => 'tcp', Blocking => 0);
    push @fill, $s if $s;
}

# the listener is full if a further connect does not complete in 0.5 s
{
    my $probe = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $lsn->sockport,
                                      Proto => 'tcp', Blocking => 0);
    my $w = '';
    vec($w, fileno($probe), 1) = 1 if $probe;
    my $n = $probe ? select(undef, $w, undef, 0.5) : 1;
    plan skip_all => 'could not fill a listen queue on this system'
        if $n != 0;
    push @fill, $probe;
}

my $t = OCTest->new;
$t->write_conf(oc_conf(api_url => $api,
                       http => "oc_api_timeout 20s;\n"
                               . "    oc_api_retries 0;\n"
                               . "    oc_wait_timeout 1s;"))
  ->run;

# the request waits for the token, then gets its clean 503
my $r = http_get('/crm/contacts');
like($r, qr/^HTTP\/1\.1 503 /, 'the waiting request gets 503');
like(http_body($r), qr/timed out waiting for the instance token/,
     'and says why');

# the reload: the old worker exits, giving up its transfer while it
# still connects; the new worker starts its own
my @old = $t->worker_pids;
kill 'HUP', $t->master_pid or die "HUP: $!";

my $end = time + 10;
sleep 0.1 while grep({ kill 0, $_ } @old) && time < $end;
ok(!grep({ kill 0, $_ } @old), 'the old worker exited');

# the new worker connects in its turn, and the stop gives that up
like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 503 /,
     'a request to the new worker gets 503 too');

$end = time + 10;
sleep 0.1 while $t->grep_log(qr/"pd": resolving/) < 2 && time < $end;
is(scalar $t->grep_log(qr/"pd": resolving/), 2,
   'the new worker resolves in its turn');

$t->stop;

my @bad = $t->grep_log(qr/epoll_ctl|\[alert\]|\[crit\]/);
is(scalar @bad, 0, 'no epoll_ctl failure or alert in the log')
    or diag join "\n", @bad;

close $_ for @fill;
close $lsn;

done_testing;
