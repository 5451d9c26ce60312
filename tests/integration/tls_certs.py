"""A test PKI made at run time with the `openssl` CLI (OpenSSL 3), for the TLS tests.

Certs(dir) creates, in `dir`:
  ca.pem / ca.key           an EC P-256 CA ("wsgate test CA");
  localhost.pem / .key      leaf CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (O=wsgate-A);
  localhost-b.pem / .key    the same names, another key, serial and O=wsgate-B (for reloads);
  a.test.pem / .key         leaf CN=a.test, SAN DNS:a.test;
  wild.b.test.pem / .key    leaf CN=*.b.test, SAN DNS:*.b.test;
  expired.pem / .key        leaf for localhost / 127.0.0.1 valid 2020-01-01 .. 2020-01-02 only
                            (made with `openssl ca -startdate/-enddate`: OpenSSL 3.0's `x509`
                            and `req -x509` cannot backdate).
Every leaf is signed by the CA, has serverAuth EKU and subject/authority key identifiers (so
strict verifiers such as Python's ssl accept it). `Certs.pair(name)` gives (cert, key) paths;
`Certs.issue(...)` makes more leaves.

OpenSSL 3 is quick with EC keys: the whole set takes well under a second."""

import os
import subprocess

OPENSSL = "/usr/bin/openssl"


def openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL, *args], capture_output=True, timeout=30, cwd=cwd)
    if r.returncode != 0:
        out = (r.stdout + r.stderr).decode(errors="replace")
        raise RuntimeError(f"openssl {' '.join(args)} failed ({r.returncode}):\n{out}")
    return r.stdout.decode(errors="replace")


LEAF_EXT = """basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""

CA_CONF = """[ca]
default_ca = test_ca

[test_ca]
dir = {dir}
database = {dir}/ca-index.txt
new_certs_dir = {dir}/ca-new
serial = {dir}/ca-serial
certificate = {dir}/ca.pem
private_key = {dir}/ca.key
default_md = sha256
policy = any_policy
unique_subject = no
email_in_dn = no
copy_extensions = none

[any_policy]
organizationName = optional
commonName = supplied
"""


class Certs:
    def __init__(self, directory):
        self.dir = str(directory)
        os.makedirs(self.dir, exist_ok=True)
        self._serial = 0x1000
        self.ca = self.path("ca.pem")
        self.ca_key = self.path("ca.key")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.ca_key, "-out", self.ca, "-days", "3650", "-sha256",
                "-subj", "/O=wsgate tests/CN=wsgate test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash")
        self.issue("localhost", "localhost", ["DNS:localhost", "IP:127.0.0.1"], org="wsgate-A")
        self.issue("localhost-b", "localhost", ["DNS:localhost", "IP:127.0.0.1"], org="wsgate-B")
        self.issue("a.test", "a.test", ["DNS:a.test"], org="wsgate-A")
        self.issue("wild.b.test", "*.b.test", ["DNS:*.b.test"], org="wsgate-A")
        self.issue_expired("expired", "localhost", ["DNS:localhost", "IP:127.0.0.1"])

    def path(self, name):
        return os.path.join(self.dir, name)

    def pair(self, name):
        """(cert path, key path) of leaf `name`."""
        return self.path(f"{name}.pem"), self.path(f"{name}.key")

    def serial(self, name):
        """The serial number of leaf `name` as an upper-case hex string (as openssl prints it)."""
        out = openssl("x509", "-in", self.pair(name)[0], "-noout", "-serial")
        return out.strip().split("=", 1)[1].upper()

    def _csr(self, name, cn, sans, org):
        cert, key = self.pair(name)
        csr = self.path(f"{name}.csr")
        subj = (f"/O={org}" if org else "") + f"/CN={cn}"
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", subj)
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write(LEAF_EXT.format(san=", ".join(sans)))
        return cert, key, csr, ext

    def issue(self, name, cn, sans, org="wsgate-A", days=30):
        """A leaf signed by the CA, valid from now for `days` days."""
        cert, key, csr, ext = self._csr(name, cn, sans, org)
        self._serial += 1
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-set_serial", str(self._serial), "-days", str(days), "-sha256",
                "-extfile", ext, "-out", cert)
        return cert, key

    def issue_expired(self, name, cn, sans, org="wsgate-A"):
        """A leaf valid 2020-01-01 .. 2020-01-02 (long expired), through `openssl ca`."""
        cert, key, csr, ext = self._csr(name, cn, sans, org)
        os.makedirs(self.path("ca-new"), exist_ok=True)
        open(self.path("ca-index.txt"), "w").close()
        self._serial += 1
        with open(self.path("ca-serial"), "w") as f:
            f.write(f"{self._serial:04X}\n")
        conf = self.path("ca.cnf")
        with open(conf, "w") as f:
            f.write(CA_CONF.format(dir=self.dir))
        openssl("ca", "-batch", "-notext", "-config", conf, "-in", csr, "-out", cert,
                "-extfile", ext, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z")
        return cert, key
