package OCEvents;

# Helpers for the event tests: the signature of a body as the openssl
# command line tool computes it, independently of the module's and the
# simulator's code.  Core Perl only.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp qw(tempfile);

use Exporter qw(import);
our @EXPORT = qw(openssl_signature);

# "sha256=" and the base64 HMAC-SHA256 of $body under $key
sub openssl_signature {
    my ($key, $body) = @_;

    my ($fh, $file) = tempfile('oc-body-XXXXXXXX', TMPDIR => 1, UNLINK => 1);
    binmode $fh;
    print {$fh} $body;
    close $fh or croak "$file: $!";

    open(my $p, '-|', 'sh', '-c',
         'openssl dgst -sha256 -hmac "$1" -binary "$2" | openssl base64 -A',
         'sh', $key, $file)
        or croak "openssl: $!";
    my $b64 = do { local $/; <$p> };
    close $p or croak "openssl failed: $?";
    unlink $file;

    croak "openssl: unexpected output '$b64'"
        unless $b64 =~ m{^[A-Za-z0-9+/]{43}=$};

    return "sha256=$b64";
}

1;
