#!/usr/bin/env python3
"""A hostile local mail user against store-mbox and store-maildir.

poplard serves here as root, the case where a worker can reach more than
each user.  Real unprivileged users are made with useradd (and removed
again); the attacker ("eve") plants symbolic links, hard links, FIFOs and
directories in what she controls, or renames her Maildir to and fro from
a process running as her, and logs in with poplib.  Every attack must end
in -ERR [SYS/PERM] or in eve's own mail only, with the target's bytes,
mode and owner unchanged and no file created beside it."""
import grp
import hashlib
import os
import poplib
import pwd
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
import poplartest  # noqa: E402

ROOT = os.geteuid() == 0
NEEDS_ROOT = ("needs root: the attacks need real users (useradd), files "
              "only root may read, and a worker that can reach them")
FROM = b"From sender@example.org Mon Jan  1 00:00:00 2024\n"


def mbox_of(*bodies):
    return b"".join(FROM + b"Subject: s\n\n" + b + b"\n\n" for b in bodies)


def fingerprint(path):
    """What must not change about a target: bytes, mode, owner, and the
    names beside it."""
    st = os.lstat(path)
    digest = None
    if os.path.isfile(path) and not os.path.islink(path):
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    return (digest, st.st_mode, st.st_uid, st.st_gid, st.st_nlink,
            sorted(os.listdir(os.path.dirname(path))))


def tree_fingerprint(top):
    out = []
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for n in sorted(dirs + files):
            p = os.path.join(d, n)
            out.append((os.path.relpath(p, top), fingerprint(p)[:4]))
    return out


class SystemUsers:
    """Real users, made for the test and removed after it."""

    def __init__(self):
        self.names = []

    def add(self, tag):
        name = "pz%d%s" % (os.getpid() % 100000, tag)
        subprocess.run(["useradd", "-M", "-N", "-d", "/nonexistent",
                        "-s", "/usr/sbin/nologin", name], check=True,
                       stdout=subprocess.DEVNULL)
        self.names.append(name)
        return pwd.getpwnam(name)

    def remove_all(self):
        for name in self.names:
            subprocess.run(["userdel", name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        self.names = []


@unittest.skipUnless(ROOT, NEEDS_ROOT)
class StoreAttackTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.users = SystemUsers()
        try:
            cls.eve = cls.users.add("eve")
            cls.vic = cls.users.add("vic")
        except Exception:
            cls.users.remove_all()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.users.remove_all()

    def setUp(self):
        self.srv = poplartest.Server()
        os.chmod(self.srv.dir, 0o711)  # users reach their homes
        self.homes = os.path.join(self.srv.dir, "home")
        os.makedirs(self.homes, mode=0o755)
        # A file only root may read, in a directory only root may write.
        secret_dir = os.path.join(self.srv.dir, "secret")
        os.mkdir(secret_dir, 0o700)
        self.secret = os.path.join(secret_dir, "shadow")
        with open(self.secret, "wb") as f:
            f.write(mbox_of(b"root's secret"))
        os.chmod(self.secret, 0o600)

    def tearDown(self):
        if self.srv.alive():
            self.srv.stop(timeout=30)
        self.srv.cleanup()

    # -- the world

    def home(self, pw):
        path = os.path.join(self.homes, pw.pw_name)
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def own(self, pw, path):
        for d, dirs, files in os.walk(path):
            for n in [d] + [os.path.join(d, x) for x in dirs + files]:
                os.lchown(n, pw.pw_uid, pw.pw_gid)
        os.lchown(path, pw.pw_uid, pw.pw_gid)

    def maildir(self, pw, path, bodies):
        md = poplartest.Maildir(path)
        for b in bodies:
            md.add(b"Subject: s\n\n" + b + b"\n")
        self.own(pw, path)
        return md

    def add_login(self, pw, uid_field=False):
        extra = "uid=%d gid=%d" % (pw.pw_uid, pw.pw_gid) if uid_field else None
        self.srv._passwd_lines.append("%s:{PLAIN}pw::::%s::%s" % (
            pw.pw_name, self.home(pw), extra or ""))
        self.srv._write_passwd()

    def start(self, mail, sections=None):
        load = ["auth-passwd-file", "store-maildir", "store-mbox"]
        self.srv.start(server={"mail": mail}, load=load, sections=sections)

    # -- sessions

    def session(self, pw, delete=False):
        """Logs in as @pw; returns the bodies served, or the -ERR text.
        With @delete, deletes everything served and QUITs."""
        p = poplib.POP3(poplartest.HOST, self.srv.port, timeout=10)
        try:
            p.user(pw.pw_name)
            try:
                p.pass_("pw")
            except poplib.error_proto as e:
                return e.args[0].decode("utf-8", "replace")
            bodies = []
            count = len(p.list()[1])
            for n in range(1, count + 1):
                try:
                    lines = p.retr(n)[1]
                except poplib.error_proto as e:
                    bodies.append(e.args[0].decode("utf-8", "replace"))
                    continue
                bodies.append(lines[-1])
                if delete:
                    p.dele(n)
            p.quit()
            return bodies
        finally:
            p.close()

    def assert_refused(self, result):
        self.assertIsInstance(result, str, "served: %r" % (result,))
        self.assertTrue(result.startswith("-ERR [SYS/PERM]"), result)

    def assert_own_or_refused(self, result, own):
        if isinstance(result, str):
            self.assert_refused(result)
            return
        for body in result:
            if isinstance(body, str):
                self.assertTrue(body.startswith("-ERR [SYS/PERM]"), body)
            else:
                self.assertIn(body, own)

    # -- mbox

    def test_mbox_symlink_to_root_only_file(self):
        """~/mbox -> a root-only file: neither read nor emptied, and no
        index or lock file appears beside it."""
        self.add_login(self.eve)
        home = self.home(self.eve)
        os.symlink(self.secret, os.path.join(home, "mbox"))
        self.start("mbox:%h/mbox")
        before = fingerprint(self.secret)
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(fingerprint(self.secret), before)
        self.srv.wait_for_log(r"symbolic link")

    def test_mbox_middle_symlink(self):
        """~/mail -> a directory that is not eve's (mail = %h/mail/mbox)."""
        self.add_login(self.eve)
        os.symlink(os.path.dirname(self.secret),
                   os.path.join(self.home(self.eve), "mail"))
        os.rename(self.secret, os.path.join(os.path.dirname(self.secret),
                                            "mbox"))
        target = os.path.join(os.path.dirname(self.secret), "mbox")
        self.start("mbox:%h/mail/mbox")
        before = fingerprint(target)
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(fingerprint(target), before)

    def test_mbox_hard_link_to_other_users_mbox(self):
        self.add_login(self.eve)
        self.add_login(self.vic)
        theirs = os.path.join(self.home(self.vic), "mbox")
        with open(theirs, "wb") as f:
            f.write(mbox_of(b"vic's mail"))
        os.chown(theirs, self.vic.pw_uid, self.vic.pw_gid)
        os.chmod(theirs, 0o600)
        # (fs.protected_hardlinks stops eve herself; not every system has
        # it, so the link is made for her.)
        os.link(theirs, os.path.join(self.home(self.eve), "mbox"))
        self.start("mbox:%h/mbox")
        before = fingerprint(theirs)[:4]
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(fingerprint(theirs)[:4], before)

    def test_mbox_fifo_does_not_hang(self):
        self.add_login(self.eve)
        fifo = os.path.join(self.home(self.eve), "mbox")
        os.mkfifo(fifo, 0o600)
        os.chown(fifo, self.eve.pw_uid, self.eve.pw_gid)
        self.start("mbox:%h/mbox")
        started = time.monotonic()
        self.assert_refused(self.session(self.eve))
        self.assertLess(time.monotonic() - started, 5)

    def test_mbox_directory_in_place_of_the_file(self):
        self.add_login(self.eve)
        d = os.path.join(self.home(self.eve), "mbox")
        os.mkdir(d, 0o700)
        os.chown(d, self.eve.pw_uid, self.eve.pw_gid)
        self.start("mbox:%h/mbox")
        self.assert_refused(self.session(self.eve))

    def test_var_mail_spool_layout(self):
        """Debian's layout: /var/mail root:mail 2775, USER:mail 0660.  The
        user's own mail is served and deleted (owner and mode kept); a
        link planted in the spool is refused."""
        mail_gid = grp.getgrnam("mail").gr_gid
        spool = os.path.join(self.srv.dir, "var", "mail")
        os.makedirs(spool)
        os.chown(spool, 0, mail_gid)
        os.chmod(spool, 0o2775)
        os.chmod(os.path.dirname(spool), 0o755)
        vic_mbox = os.path.join(spool, self.vic.pw_name)
        with open(vic_mbox, "wb") as f:
            f.write(mbox_of(b"one", b"two"))
        os.chown(vic_mbox, self.vic.pw_uid, mail_gid)
        os.chmod(vic_mbox, 0o660)
        self.add_login(self.vic)
        self.add_login(self.eve)
        os.symlink(vic_mbox, os.path.join(spool, self.eve.pw_name))
        self.start("mbox:%s/%%u" % spool)
        before = fingerprint(vic_mbox)[:4]
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(fingerprint(vic_mbox)[:4], before)
        # The owner's session works as before.
        p = poplib.POP3(poplartest.HOST, self.srv.port, timeout=10)
        p.user(self.vic.pw_name)
        p.pass_("pw")
        self.assertEqual(p.retr(1)[1][-1], b"one")
        p.dele(1)
        p.quit()
        with open(vic_mbox, "rb") as f:
            self.assertEqual(f.read(), mbox_of(b"two"))
        st = os.stat(vic_mbox)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777),
                         (self.vic.pw_uid, mail_gid, 0o660))
        leftovers = [n for n in os.listdir(spool)
                     if n.endswith(".lock") or "poplar-new" in n or
                     n.startswith(".lk")]
        self.assertEqual(leftovers, [])

    # -- Maildir

    def test_maildir_symlink_to_other_users_maildir(self):
        self.add_login(self.eve)
        self.add_login(self.vic)
        theirs = os.path.join(self.home(self.vic), "Maildir")
        self.maildir(self.vic, theirs, [b"vic's mail"])
        os.symlink(theirs, os.path.join(self.home(self.eve), "Maildir"))
        self.start("maildir:%h/Maildir")
        before = tree_fingerprint(theirs)
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(tree_fingerprint(theirs), before)

    def test_maildir_middle_symlink(self):
        """~/mail -> vic's mail directory (mail = %h/mail/Maildir)."""
        self.add_login(self.eve)
        self.add_login(self.vic)
        vic_mail = os.path.join(self.home(self.vic), "mail")
        os.mkdir(vic_mail, 0o700)
        os.chown(vic_mail, self.vic.pw_uid, self.vic.pw_gid)
        self.maildir(self.vic, os.path.join(vic_mail, "Maildir"),
                     [b"vic's mail"])
        os.symlink(vic_mail, os.path.join(self.home(self.eve), "mail"))
        self.start("maildir:%h/mail/Maildir")
        before = tree_fingerprint(vic_mail)
        self.assert_refused(self.session(self.eve, delete=True))
        self.assertEqual(tree_fingerprint(vic_mail), before)

    def test_maildir_hard_link_to_other_users_message(self):
        for uid_field in (False, True):
            with self.subTest(uid_field=uid_field):
                self._maildir_hard_link(uid_field)

    def _maildir_hard_link(self, uid_field):
        if self.srv.alive():
            self.srv.stop(timeout=30)
        self.srv._passwd_lines = []
        self.add_login(self.eve, uid_field)
        mine = os.path.join(self.home(self.eve), "Maildir")
        shutil.rmtree(mine, ignore_errors=True)
        self.maildir(self.eve, mine, [b"eve's mail"])
        theirs = os.path.join(self.home(self.vic), "Maildir")
        shutil.rmtree(theirs, ignore_errors=True)
        md = self.maildir(self.vic, theirs, [b"vic's mail"])
        victim = md.files()[0]
        os.link(victim, os.path.join(mine, "cur",
                                     "1700000000.M1P1.stolen:2,"))
        self.start("maildir:%h/Maildir")
        before = fingerprint(victim)[:4]
        result = self.session(self.eve, delete=True)
        self.assert_own_or_refused(result, [b"eve's mail"])
        self.assertEqual(fingerprint(victim)[:4], before)

    def test_maildir_rename_race(self):
        """A process running as eve swaps ~/Maildir between her own Maildir
        and a link to vic's while sessions open it and delete what they
        see: each ends with eve's mail or [SYS/PERM], vic's is intact."""
        self.add_login(self.eve)
        self.add_login(self.vic)
        home = self.home(self.eve)
        theirs = os.path.join(self.home(self.vic), "Maildir")
        self.maildir(self.vic, theirs, [b"vic's mail"])
        own = os.path.join(home, "Maildir")
        self.maildir(self.eve, own, [b"eve's mail %d" % i for i in range(3)])
        own_bodies = [b"eve's mail %d" % i for i in range(3)]
        self.start("maildir:%h/Maildir",
                   sections={"store-maildir": {"create": "no"}})
        before = tree_fingerprint(theirs)
        child = os.fork()
        if child == 0:
            code = 1
            try:
                os.setgid(self.eve.pw_gid)
                os.setuid(self.eve.pw_uid)
                os.chdir(home)
                deadline = time.monotonic() + 4
                i = 0
                while i < 400 and time.monotonic() < deadline:
                    i += 1
                    try:
                        os.rename("Maildir", "own")
                        os.symlink(theirs, "Maildir")
                        os.unlink("Maildir")
                        os.rename("own", "Maildir")
                    except OSError:
                        pass
                code = 0
            finally:
                os._exit(code)
        try:
            results = []
            while len(results) < 200:
                if os.waitpid(child, os.WNOHANG) != (0, 0):
                    child = None
                    break
                results.append(self.session(self.eve, delete=True))
        finally:
            if child:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
        self.assertTrue(results)
        for r in results:
            self.assert_own_or_refused(r, own_bodies)
        # Deleting sessions while eve keeps swapping would be the harm:
        # one more round, with deletions, proves none reached vic's.
        self.assertEqual(tree_fingerprint(theirs), before)


if __name__ == "__main__":
    unittest.main(verbosity=2)
