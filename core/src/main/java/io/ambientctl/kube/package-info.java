/**
 * Kubernetes: Pods as targets, ztunnel's Pod, and the node agent. The only package that imports
 * fabric8, and only some of its classes do: {@link io.ambientctl.kube.KubeOptions},
 * {@link io.ambientctl.kube.NodeName}, {@link io.ambientctl.kube.PodRef},
 * {@link io.ambientctl.kube.PodSelection}, {@link io.ambientctl.kube.PodNetns},
 * {@link io.ambientctl.kube.WorkQueue} and {@link io.ambientctl.kube.HealthServer} are plain Java, so
 * commands that never talk to the API never load the client. The client itself is created by
 * {@link io.ambientctl.kube.KubeNode#connect}, on the first command that needs it.
 */
package io.ambientctl.kube;
