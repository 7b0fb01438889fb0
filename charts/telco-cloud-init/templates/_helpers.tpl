{{/*
Pinned upstreams (versions.yaml) with the user's `upstreams` overrides on top, as JSON.
*/}}
{{- define "cluster-init.upstreams" -}}
{{- $pins := (.Files.Get "versions.yaml" | fromYaml).upstreams -}}
{{- toJson (mergeOverwrite (deepCopy $pins) (deepCopy (.Values.upstreams | default dict))) -}}
{{- end -}}

{{/*
The enabled units, as JSON name -> unit. A unit is enabled when `enabled` is not false, the context is
one of its `contexts` (or, for an `after_pivot` unit, the management context once `pivoted` is true), and
the selected providers are in its `when` lists.
*/}}
{{- define "cluster-init.units" -}}
{{- $ctx := .Values.context -}}
{{- $infra := .Values.cluster.infra_provider -}}
{{- $boot := .Values.cluster.bootstrap_provider -}}
{{- $out := dict -}}
{{- range $name, $u := .Values.units -}}
{{- $when := $u.when | default dict -}}
{{- $on := or (not (hasKey $u "enabled")) $u.enabled -}}
{{- $ctxs := $u.contexts | default (list "bootstrap" "management") -}}
{{- if and $u.after_pivot $.Values.pivoted }}{{ $ctxs = append $ctxs "management" }}{{ end -}}
{{- $on = and $on (has $ctx $ctxs) -}}
{{- if $when.infra_provider }}{{ $on = and $on (has $infra $when.infra_provider) }}{{ end -}}
{{- if $when.bootstrap_provider }}{{ $on = and $on (has $boot $when.bootstrap_provider) }}{{ end -}}
{{- if $on }}{{ $_ := set $out $name $u }}{{ end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
A unit's setting, or the unit_defaults one when the unit does not set it. Args: (list unit key root).
*/}}
{{- define "cluster-init.setting" -}}
{{- $u := index . 0 -}}{{- $key := index . 1 -}}{{- $root := index . 2 -}}
{{- if hasKey $u $key }}{{ index $u $key }}{{ else }}{{ index $root.Values.unit_defaults $key }}{{ end -}}
{{- end -}}

{{- define "cluster-init.k8s-version" -}}
{{- $up := include "cluster-init.upstreams" . | fromJson -}}
{{- .Values.cluster.k8s_version | default $up.kubernetes.version -}}
{{- end -}}

{{/*
The dependsOn entries of a unit's `after_applied` (a dict: unit -> its Kustomization that applies its manifests).
*/}}
{{- define "cluster-init.after-applied" -}}
{{- range $dep := keys . | sortAlpha }}
# Unit {{ $dep }} is far enough once this Kustomization of it has applied its manifests (Flux records their
# inventory before its health checks): its CRDs exist, its controllers may still be starting.
- name: {{ index $ $dep }}
  readyExpr: has(dep.status) && has(dep.status.inventory)
{{- end }}
{{- end }}
