_mountleak_exporter() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="mountleak_exporter"
                ;;
            mountleak_exporter,completion)
                cmd="mountleak_exporter__subcmd__completion"
                ;;
            mountleak_exporter,help)
                cmd="mountleak_exporter__subcmd__help"
                ;;
            mountleak_exporter,man)
                cmd="mountleak_exporter__subcmd__man"
                ;;
            mountleak_exporter,release)
                cmd="mountleak_exporter__subcmd__release"
                ;;
            mountleak_exporter,scan)
                cmd="mountleak_exporter__subcmd__scan"
                ;;
            mountleak_exporter__subcmd__help,completion)
                cmd="mountleak_exporter__subcmd__help__subcmd__completion"
                ;;
            mountleak_exporter__subcmd__help,help)
                cmd="mountleak_exporter__subcmd__help__subcmd__help"
                ;;
            mountleak_exporter__subcmd__help,man)
                cmd="mountleak_exporter__subcmd__help__subcmd__man"
                ;;
            mountleak_exporter__subcmd__help,release)
                cmd="mountleak_exporter__subcmd__help__subcmd__release"
                ;;
            mountleak_exporter__subcmd__help,scan)
                cmd="mountleak_exporter__subcmd__help__subcmd__scan"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        mountleak_exporter)
            opts="-V -h --version --web.listen-address --web.telemetry-path --web.config.file --web.max-connections --metrics.max-series --path.procfs --runtime.docker --runtime.podman --podman.host --podman.root --runtime.cri-o --cri-o.address --cri-o.run-root --runtime.containerd --containerd.address --containerd.namespaces --containerd.root --containerd.state --kubelet.root-dir --docker.host --docker.root --docker.exec-root --runtime.timeout --legacy.docker-timeout --runtime.resync-interval --legacy.docker-resync-interval --scan.min-interval --scan.max-processes-per-namespace --runtime.drop-capabilities --log.level --log.format --help scan completion man release help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics.max-series)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path.procfs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.docker)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --runtime.podman)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --podman.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --podman.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.cri-o)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --cri-o.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cri-o.run-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.containerd)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --containerd.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kubelet.root-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.exec-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.max-processes-per-namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__completion)
            opts="-V -h --version --web.listen-address --web.telemetry-path --web.config.file --web.max-connections --metrics.max-series --path.procfs --runtime.docker --runtime.podman --podman.host --podman.root --runtime.cri-o --cri-o.address --cri-o.run-root --runtime.containerd --containerd.address --containerd.namespaces --containerd.root --containerd.state --kubelet.root-dir --docker.host --docker.root --docker.exec-root --runtime.timeout --legacy.docker-timeout --runtime.resync-interval --legacy.docker-resync-interval --scan.min-interval --scan.max-processes-per-namespace --runtime.drop-capabilities --log.level --log.format --help bash elvish fish powershell zsh"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics.max-series)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path.procfs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.docker)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --runtime.podman)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --podman.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --podman.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.cri-o)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --cri-o.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cri-o.run-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.containerd)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --containerd.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kubelet.root-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.exec-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.max-processes-per-namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help)
            opts="scan completion man release help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help__subcmd__completion)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help__subcmd__man)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help__subcmd__release)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__help__subcmd__scan)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__man)
            opts="-V -h --version --web.listen-address --web.telemetry-path --web.config.file --web.max-connections --metrics.max-series --path.procfs --runtime.docker --runtime.podman --podman.host --podman.root --runtime.cri-o --cri-o.address --cri-o.run-root --runtime.containerd --containerd.address --containerd.namespaces --containerd.root --containerd.state --kubelet.root-dir --docker.host --docker.root --docker.exec-root --runtime.timeout --legacy.docker-timeout --runtime.resync-interval --legacy.docker-resync-interval --scan.min-interval --scan.max-processes-per-namespace --runtime.drop-capabilities --log.level --log.format --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics.max-series)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path.procfs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.docker)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --runtime.podman)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --podman.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --podman.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.cri-o)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --cri-o.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cri-o.run-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.containerd)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --containerd.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kubelet.root-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.exec-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.max-processes-per-namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__release)
            opts="-V -h --container --holder --mount --volume --pod --include-at-risk --yes --output --pause-before-act --version --web.listen-address --web.telemetry-path --web.config.file --web.max-connections --metrics.max-series --path.procfs --runtime.docker --runtime.podman --podman.host --podman.root --runtime.cri-o --cri-o.address --cri-o.run-root --runtime.containerd --containerd.address --containerd.namespaces --containerd.root --containerd.state --kubelet.root-dir --docker.host --docker.root --docker.exec-root --runtime.timeout --legacy.docker-timeout --runtime.resync-interval --legacy.docker-resync-interval --scan.min-interval --scan.max-processes-per-namespace --runtime.drop-capabilities --log.level --log.format --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --container)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --holder)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --mount)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --volume)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pod)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --pause-before-act)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics.max-series)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path.procfs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.docker)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --runtime.podman)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --podman.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --podman.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.cri-o)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --cri-o.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cri-o.run-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.containerd)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --containerd.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kubelet.root-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.exec-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.max-processes-per-namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        mountleak_exporter__subcmd__scan)
            opts="-V -h --output --version --web.listen-address --web.telemetry-path --web.config.file --web.max-connections --metrics.max-series --path.procfs --runtime.docker --runtime.podman --podman.host --podman.root --runtime.cri-o --cri-o.address --cri-o.run-root --runtime.containerd --containerd.address --containerd.namespaces --containerd.root --containerd.state --kubelet.root-dir --docker.host --docker.root --docker.exec-root --runtime.timeout --legacy.docker-timeout --runtime.resync-interval --legacy.docker-resync-interval --scan.min-interval --scan.max-processes-per-namespace --runtime.drop-capabilities --log.level --log.format --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --output)
                    COMPREPLY=($(compgen -W "text json oneline" -- "${cur}"))
                    return 0
                    ;;
                --web.listen-address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.telemetry-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.config.file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web.max-connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics.max-series)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path.procfs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.docker)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --runtime.podman)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --podman.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --podman.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.cri-o)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --cri-o.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cri-o.run-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.containerd)
                    COMPREPLY=($(compgen -W "true false auto" -- "${cur}"))
                    return 0
                    ;;
                --containerd.address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.namespaces)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --containerd.state)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kubelet.root-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --docker.exec-root)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --runtime.resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --legacy.docker-resync-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --scan.max-processes-per-namespace)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log.format)
                    COMPREPLY=($(compgen -W "logfmt json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _mountleak_exporter -o nosort -o bashdefault -o default mountleak_exporter
else
    complete -F _mountleak_exporter -o bashdefault -o default mountleak_exporter
fi
