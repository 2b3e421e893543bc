# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mountleak_exporter_global_optspecs
    string join \n V/version web.listen-address= web.telemetry-path= web.config.file= web.max-connections= metrics.max-series= path.procfs= runtime.docker= runtime.podman= podman.host= podman.root= runtime.cri-o= cri-o.address= cri-o.run-root= runtime.containerd= containerd.address= containerd.namespaces= containerd.root= containerd.state= kubelet.root-dir= docker.host= docker.root= docker.exec-root= runtime.timeout= legacy.docker-timeout= runtime.resync-interval= legacy.docker-resync-interval= scan.min-interval= scan.max-processes-per-namespace= runtime.drop-capabilities log.level= log.format= h/help
end

function __fish_mountleak_exporter_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mountleak_exporter_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mountleak_exporter_using_subcommand
    set -l cmd (__fish_mountleak_exporter_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l web.listen-address -d 'Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l web.telemetry-path -d 'Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l web.config.file -d 'Exporter-toolkit web configuration file (TLS, basic auth, response headers)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l web.max-connections -d 'Connections served at once; more are closed at accept' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l metrics.max-series -d 'Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l path.procfs -d 'procfs mountpoint (the host\'s /proc, e.g. /host/proc in a container)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.docker -d 'Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.podman -d 'Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l podman.host -d 'Podman API service address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l podman.root -d 'Podman\'s storage graph root to recognise before Podman answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.cri-o -d 'Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l cri-o.address -d 'CRI-O\'s CRI socket (any CRI runtime\'s answers the same calls)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l cri-o.run-root -d 'CRI-O\'s containers/storage run root (sandbox shm under overlay-containers/<id>/userdata)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.containerd -d 'Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l containerd.address -d 'containerd\'s gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s\'s and RKE2\'s /run/k3s/containerd/containerd.sock, k0s\'s /run/k0s/containerd.sock, microk8s\'s /var/snap/microk8s/common/run/containerd.sock]' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l containerd.namespaces -d 'containerd namespaces to watch, comma-separated (k8s.io: kubelet\'s; moby: Docker\'s; default: ctr\'s)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l containerd.root -d 'Accepted for compatibility, unused: nothing per-container lives under containerd\'s root (the CRI sandbox shm is under its state directory)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l containerd.state -d 'containerd\'s state directory (task rootfs mounts live under it; the socket\'s directory is added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l kubelet.root-dir -d 'kubelet\'s root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l docker.host -d 'Docker Engine API address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l docker.root -d 'Docker data root to recognise before Docker answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l docker.exec-root -d 'Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.timeout -d 'Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l legacy.docker-timeout -d 'The old environment variable of --runtime.timeout, read when neither the flag nor MOUNTLEAK_RUNTIME_TIMEOUT is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.resync-interval -d 'How often to re-list every runtime\'s containers besides following events [default: 60s] (formerly --docker.resync-interval)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l legacy.docker-resync-interval -d 'The old environment variable of --runtime.resync-interval, read when neither the flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l scan.min-interval -d 'Reuse a scan of /proc for scrapes within this interval' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l scan.max-processes-per-namespace -d 'Read the details (comm, unit, container) of at most this many processes per mount namespace holding container mounts, lowest pids first (0: all). Their per-process series are the ones exported; the namespace\'s process count stays exact' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l log.level -d 'Only log messages with the given severity or above (error, warn, info, debug, trace)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l log.format -d 'Output format of log messages' -r -f -a "logfmt\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -s V -l version -d 'Print the version, revision, build date, Rust version and platform, and exit'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -l runtime.drop-capabilities -d 'After start-up (web config read, port bound), drop every capability except cap_sys_ptrace, the one reading other processes\' mount namespaces needs'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -s h -l help -d 'Print help'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -f -a "scan" -d 'Scan once and print the leaks. Exit status: 0 none, 1 leaks found, 2 could not scan'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -f -a "completion" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) for this binary'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -f -a "man" -d 'Print the manual page (roff), generated from these very flags'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -f -a "release" -d 'Detach leaked copies inside the namespaces holding them (dry run unless --yes). Exit status: 0 every selected copy released (or none selected), 1 some not, 2 could not scan, bad arguments or missing privileges'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l output -d 'text, json, or oneline: one line of printable ASCII, at most 80 bytes (what node-problem-detector keeps of a plugin\'s output)' -r -f -a "text\t''
json\t''
oneline\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l web.listen-address -d 'Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l web.telemetry-path -d 'Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l web.config.file -d 'Exporter-toolkit web configuration file (TLS, basic auth, response headers)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l web.max-connections -d 'Connections served at once; more are closed at accept' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l metrics.max-series -d 'Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l path.procfs -d 'procfs mountpoint (the host\'s /proc, e.g. /host/proc in a container)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.docker -d 'Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.podman -d 'Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l podman.host -d 'Podman API service address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l podman.root -d 'Podman\'s storage graph root to recognise before Podman answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.cri-o -d 'Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l cri-o.address -d 'CRI-O\'s CRI socket (any CRI runtime\'s answers the same calls)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l cri-o.run-root -d 'CRI-O\'s containers/storage run root (sandbox shm under overlay-containers/<id>/userdata)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.containerd -d 'Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l containerd.address -d 'containerd\'s gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s\'s and RKE2\'s /run/k3s/containerd/containerd.sock, k0s\'s /run/k0s/containerd.sock, microk8s\'s /var/snap/microk8s/common/run/containerd.sock]' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l containerd.namespaces -d 'containerd namespaces to watch, comma-separated (k8s.io: kubelet\'s; moby: Docker\'s; default: ctr\'s)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l containerd.root -d 'Accepted for compatibility, unused: nothing per-container lives under containerd\'s root (the CRI sandbox shm is under its state directory)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l containerd.state -d 'containerd\'s state directory (task rootfs mounts live under it; the socket\'s directory is added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l kubelet.root-dir -d 'kubelet\'s root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l docker.host -d 'Docker Engine API address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l docker.root -d 'Docker data root to recognise before Docker answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l docker.exec-root -d 'Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.timeout -d 'Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l legacy.docker-timeout -d 'The old environment variable of --runtime.timeout, read when neither the flag nor MOUNTLEAK_RUNTIME_TIMEOUT is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.resync-interval -d 'How often to re-list every runtime\'s containers besides following events [default: 60s] (formerly --docker.resync-interval)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l legacy.docker-resync-interval -d 'The old environment variable of --runtime.resync-interval, read when neither the flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l scan.min-interval -d 'Reuse a scan of /proc for scrapes within this interval' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l scan.max-processes-per-namespace -d 'Read the details (comm, unit, container) of at most this many processes per mount namespace holding container mounts, lowest pids first (0: all). Their per-process series are the ones exported; the namespace\'s process count stays exact' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l log.level -d 'Only log messages with the given severity or above (error, warn, info, debug, trace)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l log.format -d 'Output format of log messages' -r -f -a "logfmt\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -s V -l version -d 'Print the version, revision, build date, Rust version and platform, and exit'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -l runtime.drop-capabilities -d 'After start-up (web config read, port bound), drop every capability except cap_sys_ptrace, the one reading other processes\' mount namespaces needs'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand scan" -s h -l help -d 'Print help'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l web.listen-address -d 'Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l web.telemetry-path -d 'Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l web.config.file -d 'Exporter-toolkit web configuration file (TLS, basic auth, response headers)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l web.max-connections -d 'Connections served at once; more are closed at accept' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l metrics.max-series -d 'Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l path.procfs -d 'procfs mountpoint (the host\'s /proc, e.g. /host/proc in a container)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.docker -d 'Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.podman -d 'Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l podman.host -d 'Podman API service address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l podman.root -d 'Podman\'s storage graph root to recognise before Podman answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.cri-o -d 'Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l cri-o.address -d 'CRI-O\'s CRI socket (any CRI runtime\'s answers the same calls)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l cri-o.run-root -d 'CRI-O\'s containers/storage run root (sandbox shm under overlay-containers/<id>/userdata)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.containerd -d 'Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l containerd.address -d 'containerd\'s gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s\'s and RKE2\'s /run/k3s/containerd/containerd.sock, k0s\'s /run/k0s/containerd.sock, microk8s\'s /var/snap/microk8s/common/run/containerd.sock]' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l containerd.namespaces -d 'containerd namespaces to watch, comma-separated (k8s.io: kubelet\'s; moby: Docker\'s; default: ctr\'s)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l containerd.root -d 'Accepted for compatibility, unused: nothing per-container lives under containerd\'s root (the CRI sandbox shm is under its state directory)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l containerd.state -d 'containerd\'s state directory (task rootfs mounts live under it; the socket\'s directory is added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l kubelet.root-dir -d 'kubelet\'s root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l docker.host -d 'Docker Engine API address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l docker.root -d 'Docker data root to recognise before Docker answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l docker.exec-root -d 'Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.timeout -d 'Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l legacy.docker-timeout -d 'The old environment variable of --runtime.timeout, read when neither the flag nor MOUNTLEAK_RUNTIME_TIMEOUT is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.resync-interval -d 'How often to re-list every runtime\'s containers besides following events [default: 60s] (formerly --docker.resync-interval)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l legacy.docker-resync-interval -d 'The old environment variable of --runtime.resync-interval, read when neither the flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l scan.min-interval -d 'Reuse a scan of /proc for scrapes within this interval' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l scan.max-processes-per-namespace -d 'Read the details (comm, unit, container) of at most this many processes per mount namespace holding container mounts, lowest pids first (0: all). Their per-process series are the ones exported; the namespace\'s process count stays exact' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l log.level -d 'Only log messages with the given severity or above (error, warn, info, debug, trace)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l log.format -d 'Output format of log messages' -r -f -a "logfmt\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -s V -l version -d 'Print the version, revision, build date, Rust version and platform, and exit'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -l runtime.drop-capabilities -d 'After start-up (web config read, port bound), drop every capability except cap_sys_ptrace, the one reading other processes\' mount namespaces needs'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand completion" -s h -l help -d 'Print help'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l web.listen-address -d 'Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l web.telemetry-path -d 'Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l web.config.file -d 'Exporter-toolkit web configuration file (TLS, basic auth, response headers)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l web.max-connections -d 'Connections served at once; more are closed at accept' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l metrics.max-series -d 'Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l path.procfs -d 'procfs mountpoint (the host\'s /proc, e.g. /host/proc in a container)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.docker -d 'Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.podman -d 'Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l podman.host -d 'Podman API service address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l podman.root -d 'Podman\'s storage graph root to recognise before Podman answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.cri-o -d 'Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l cri-o.address -d 'CRI-O\'s CRI socket (any CRI runtime\'s answers the same calls)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l cri-o.run-root -d 'CRI-O\'s containers/storage run root (sandbox shm under overlay-containers/<id>/userdata)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.containerd -d 'Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l containerd.address -d 'containerd\'s gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s\'s and RKE2\'s /run/k3s/containerd/containerd.sock, k0s\'s /run/k0s/containerd.sock, microk8s\'s /var/snap/microk8s/common/run/containerd.sock]' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l containerd.namespaces -d 'containerd namespaces to watch, comma-separated (k8s.io: kubelet\'s; moby: Docker\'s; default: ctr\'s)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l containerd.root -d 'Accepted for compatibility, unused: nothing per-container lives under containerd\'s root (the CRI sandbox shm is under its state directory)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l containerd.state -d 'containerd\'s state directory (task rootfs mounts live under it; the socket\'s directory is added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l kubelet.root-dir -d 'kubelet\'s root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l docker.host -d 'Docker Engine API address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l docker.root -d 'Docker data root to recognise before Docker answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l docker.exec-root -d 'Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.timeout -d 'Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l legacy.docker-timeout -d 'The old environment variable of --runtime.timeout, read when neither the flag nor MOUNTLEAK_RUNTIME_TIMEOUT is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.resync-interval -d 'How often to re-list every runtime\'s containers besides following events [default: 60s] (formerly --docker.resync-interval)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l legacy.docker-resync-interval -d 'The old environment variable of --runtime.resync-interval, read when neither the flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l scan.min-interval -d 'Reuse a scan of /proc for scrapes within this interval' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l scan.max-processes-per-namespace -d 'Read the details (comm, unit, container) of at most this many processes per mount namespace holding container mounts, lowest pids first (0: all). Their per-process series are the ones exported; the namespace\'s process count stays exact' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l log.level -d 'Only log messages with the given severity or above (error, warn, info, debug, trace)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l log.format -d 'Output format of log messages' -r -f -a "logfmt\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -s V -l version -d 'Print the version, revision, build date, Rust version and platform, and exit'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -l runtime.drop-capabilities -d 'After start-up (web config read, port bound), drop every capability except cap_sys_ptrace, the one reading other processes\' mount namespaces needs'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand man" -s h -l help -d 'Print help'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l container -d 'A container\'s name, id or id prefix' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l holder -d 'The holder: a pid of its namespace, or its systemd unit' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l mount -d 'A mount point, as the report prints it' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l volume -d 'A named volume' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l pod -d 'A Kubernetes pod\'s uid' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l output -r -f -a "text\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l pause-before-act -d 'Testing: wait between the scan and the act' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l web.listen-address -d 'Address to listen on for HTTP (`:port` listens on every interface); repeat it to listen on several (the environment variable takes them comma-separated)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l web.telemetry-path -d 'Path under which to expose metrics (not `/`, `/healthz` or `/api/v1/leaks`)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l web.config.file -d 'Exporter-toolkit web configuration file (TLS, basic auth, response headers)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l web.max-connections -d 'Connections served at once; more are closed at accept' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l metrics.max-series -d 'Cap on leak series per scrape (aggregates are kept first); the rest is counted in mountleak_series_dropped' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l path.procfs -d 'procfs mountpoint (the host\'s /proc, e.g. /host/proc in a container)' -r -F
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.docker -d 'Watch Docker (`--runtime.docker=false` to turn it off; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.podman -d 'Watch Podman through its API service (`podman system service`; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l podman.host -d 'Podman API service address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l podman.root -d 'Podman\'s storage graph root to recognise before Podman answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.cri-o -d 'Watch CRI-O through the Kubernetes CRI API (OpenShift/OKD nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l cri-o.address -d 'CRI-O\'s CRI socket (any CRI runtime\'s answers the same calls)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l cri-o.run-root -d 'CRI-O\'s containers/storage run root (sandbox shm under overlay-containers/<id>/userdata)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.containerd -d 'Watch containerd through its gRPC API (Kubernetes nodes; `auto`: if its socket exists at start-up)' -r -f -a "true\t''
false\t''
auto\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l containerd.address -d 'containerd\'s gRPC socket [default: the first that exists of /run/containerd/containerd.sock, k3s\'s and RKE2\'s /run/k3s/containerd/containerd.sock, k0s\'s /run/k0s/containerd.sock, microk8s\'s /var/snap/microk8s/common/run/containerd.sock]' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l containerd.namespaces -d 'containerd namespaces to watch, comma-separated (k8s.io: kubelet\'s; moby: Docker\'s; default: ctr\'s)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l containerd.root -d 'Accepted for compatibility, unused: nothing per-container lives under containerd\'s root (the CRI sandbox shm is under its state directory)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l containerd.state -d 'containerd\'s state directory (task rootfs mounts live under it; the socket\'s directory is added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l kubelet.root-dir -d 'kubelet\'s root directory, whose pods/<uid>/volumes hold pod volume mounts (with --runtime.containerd)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l docker.host -d 'Docker Engine API address (unix:// or tcp://)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l docker.root -d 'Docker data root to recognise before Docker answers (its DockerRootDir is added when it does)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l docker.exec-root -d 'Docker exec root, where sandbox network namespaces live in netns/ (roots seen in SandboxKey are added)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.timeout -d 'Timeout of each API call of every runtime [default: 5s] (formerly --docker.timeout)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l legacy.docker-timeout -d 'The old environment variable of --runtime.timeout, read when neither the flag nor MOUNTLEAK_RUNTIME_TIMEOUT is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.resync-interval -d 'How often to re-list every runtime\'s containers besides following events [default: 60s] (formerly --docker.resync-interval)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l legacy.docker-resync-interval -d 'The old environment variable of --runtime.resync-interval, read when neither the flag nor MOUNTLEAK_RUNTIME_RESYNC_INTERVAL is given' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l scan.min-interval -d 'Reuse a scan of /proc for scrapes within this interval' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l scan.max-processes-per-namespace -d 'Read the details (comm, unit, container) of at most this many processes per mount namespace holding container mounts, lowest pids first (0: all). Their per-process series are the ones exported; the namespace\'s process count stays exact' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l log.level -d 'Only log messages with the given severity or above (error, warn, info, debug, trace)' -r
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l log.format -d 'Output format of log messages' -r -f -a "logfmt\t''
json\t''"
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l include-at-risk -d 'Also release `at_risk` copies (of containers that still run)'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l yes -d 'Act; without it, only print what would be done'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -s V -l version -d 'Print the version, revision, build date, Rust version and platform, and exit'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -l runtime.drop-capabilities -d 'After start-up (web config read, port bound), drop every capability except cap_sys_ptrace, the one reading other processes\' mount namespaces needs'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand release" -s h -l help -d 'Print help'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand help; and not __fish_seen_subcommand_from scan completion man release help" -f -a "scan" -d 'Scan once and print the leaks. Exit status: 0 none, 1 leaks found, 2 could not scan'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand help; and not __fish_seen_subcommand_from scan completion man release help" -f -a "completion" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) for this binary'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand help; and not __fish_seen_subcommand_from scan completion man release help" -f -a "man" -d 'Print the manual page (roff), generated from these very flags'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand help; and not __fish_seen_subcommand_from scan completion man release help" -f -a "release" -d 'Detach leaked copies inside the namespaces holding them (dry run unless --yes). Exit status: 0 every selected copy released (or none selected), 1 some not, 2 could not scan, bad arguments or missing privileges'
complete -c mountleak_exporter -n "__fish_mountleak_exporter_using_subcommand help; and not __fish_seen_subcommand_from scan completion man release help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
