"""The real control plane for tests: etcd, kube-apiserver, kube-controller-manager and the KubeRay
operator built from the Go module proxy (``make real-kuberay``), with a node agent of ours playing
the kubelet. ``RealKubeRay`` (in :mod:`.controlplane`) is the entry point; nothing here is imported
by the provider itself.
"""
