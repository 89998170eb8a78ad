"""The libc declarations for cffi (namespaces, mounts, prctl, capabilities), in a module of their
own: the bindings load them through ``ffimodules``, which must not import the bindings back."""

CDEF = """
int setns(int fd, int nstype);
int unshare(int flags);
int mount(const char *source, const char *target, const char *fstype,
          unsigned long flags, const void *data);
int umount2(const char *target, int flags);
long syscall(long number, ...);
struct mount_attr { uint64_t attr_set; uint64_t attr_clr; uint64_t propagation; uint64_t userns_fd; };
struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
int prctl(int option, ...);
struct nvc_cap_header { uint32_t version; int pid; };
struct nvc_cap_data { uint32_t effective; uint32_t permitted; uint32_t inheritable; };
int capget(struct nvc_cap_header *hdrp, struct nvc_cap_data *datap);
int capset(struct nvc_cap_header *hdrp, const struct nvc_cap_data *datap);
"""
