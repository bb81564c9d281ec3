#!/usr/bin/perl

# A worker's Authorization values: one per instance however often the
# token changes (many rotations, each met by an upstream 401 and a replay),
# an old one kept only while a request with a late body still uses it,
# then freed; counted from the worker's debug log.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(sleep time);
use lib 't/lib';
use OCTest;
use OCConf;

plan skip_all => 'nginx without --with-debug: the count is a debug line'
    unless `$OCTest::NGINX -V 2>&1` =~ /--with-debug/;

# under valgrind every request is slow: fewer rotations prove the same
my $ROTATIONS = $OCTest::VALGRIND ? 40 : 200;

sub hub_calls {
    my ($sim) = @_;
    return grep { $_->{endpoint} =~ m{^\w+ /hubs/} } @{ $sim->calls };
}

sub token_of {
    my ($call) = @_;
    return (($call->{authorization} // '') =~ /Element (\S+)$/)[0] // '';
}

sub rotate {
    my ($sim) = @_;
    my ($inst) = grep { !$_->{deleted} } @{ $sim->instances };
    my $old = $inst->{token};
    my $new = $sim->rotate($inst->{id});
    $sim->reset;
    return ($old, $new);
}

# the counts the worker logged, in order: "new" or "freed", and how many
# values it had then
sub counts {
    my ($t) = @_;
    my $log = $t->read_file('debug.log') // '';
    my @c;
    push @c, [ $1, $2 ]
        while $log =~ /oc value(?: "[^"]*")?: (new|freed), (\d+) live in /g;
    return @c;
}

sub wait_for {
    my ($cond) = @_;
    my $end = time + 5 * ($OCTest::VALGRIND ? 10 : 1);
    until ($cond->()) {
        return 0 if time > $end;
        sleep 0.05;
    }
    return 1;
}

# the values are counted in the worker's main log (ngx_cycle->log)
my $conf = oc_conf(http => 'oc_retry_on_401 on; oc_wait_timeout 5s;');
$conf =~ s/^(%%TEST_GLOBALS%%\n)/$1error_log %%TESTDIR%%\/debug.log debug;\n/m
    or die 'no %%TEST_GLOBALS%% line';

my $t = OCTest->new;
my $sim = $t->sim;
$t->write_conf($conf)->run;

like(http_get('/crm/contacts'), qr/ 200 /, 'warm');

# many token changes: each one's value replaces the last
{
    my $ok = 0;
    my $seen = 0;

    for (1 .. $ROTATIONS) {
        my ($old, $new) = rotate($sim);
        $ok++ if http_get('/crm/contacts') =~ /^HTTP\/1\.1 200 /;
        $seen++ if grep { token_of($_) eq $new } hub_calls($sim);
    }

    is($ok, $ROTATIONS, "rotations: $ROTATIONS requests, each 200");
    is($seen, $ROTATIONS, 'rotations: each replayed with the new token');

    my @c = counts($t);
    my $made = grep { $_->[0] eq 'new' } @c;
    my $freed = grep { $_->[0] eq 'freed' } @c;
    my ($max) = sort { $b <=> $a } map { $_->[1] } @c;

    ok($made >= $ROTATIONS + 1, "rotations: $made values made");
    is($made - $freed, 1, 'rotations: all freed but the current one');
    ok(defined $max && $max <= 2, 'rotations: never more than 2 live at once'
       . ' (the new one, the old one until its request ends)');
    is($c[-1][1], 1, 'rotations: 1 value live at the end');
}

# a late body: the request keeps the value it chose, intact, until it ends
{
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => OCTest::port(8080),
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    syswrite($s, "POST /crm/contacts HTTP/1.0\r\nHost: localhost\r\n"
                 . "Content-Type: application/json\r\n"
                 . "Content-Length: 2\r\n\r\n");

    # the value is chosen, the body not read yet
    sleep 0.3 * ($OCTest::VALGRIND ? 10 : 1);

    my ($old, $new) = rotate($sim);
    like(http_get('/crm/contacts'), qr/^HTTP\/1\.1 200 /,
         'late body: another request gets the new token');

    my @c = counts($t);
    is($c[-1][1], 2, 'late body: its old value stays while it runs');

    syswrite($s, "{}");
    my $r = '';
    my $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        last unless sysread($s, $r, 65536, length $r);
    }
    close $s;

    like($r, qr/^HTTP\/1\.1 401 /, "late body: the hub's 401 for the old "
         . 'token, passed on (a body is not sent again)');

    my ($post) = grep { $_->{endpoint} =~ /^POST / } hub_calls($sim);
    is(token_of($post // {}), $old, 'late body: the upstream request carried '
       . 'the value chosen before the token changed');

    ok(wait_for(sub { (counts($t))[-1][1] == 1 }),
       'late body: its value freed when it ended');
}

$t->stop;

done_testing();
