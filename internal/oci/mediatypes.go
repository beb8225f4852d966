package oci

// Media and artifact types affix reads and writes.
const (
	// MediaTypeSPDX is the artifact and layer media type of an SPDX JSON SBOM.
	MediaTypeSPDX = "application/spdx+json"
	// MediaTypeCycloneDX is the artifact and layer media type of a CycloneDX JSON SBOM.
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	// MediaTypeSyftJSON is the media type of a syft JSON document.
	MediaTypeSyftJSON = "application/vnd.syft+json"
	// MediaTypeInToto is the layer media type of an in-toto statement.
	MediaTypeInToto = "application/vnd.in-toto+json"
	// MediaTypeDockerManifest is the Docker schema 2 image manifest.
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	// MediaTypeDockerConfig is the Docker schema 2 image config.
	MediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
	// MediaTypeDockerManifestList is the Docker schema 2 manifest list.
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	// ArtifactTypeBuildKitAttestation is what BuildKit sets as artifactType
	// on its in-index attestation manifests (v0.32+).
	ArtifactTypeBuildKitAttestation = "application/vnd.docker.attestation.manifest.v1+json"
)

// Annotation keys.
const (
	// AnnotationDockerReferenceType marks BuildKit attestation manifests in an index.
	AnnotationDockerReferenceType = "vnd.docker.reference.type"
	// AnnotationDockerReferenceDigest names the platform manifest an attestation manifest describes.
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
	// DockerReferenceTypeAttestation is the value of AnnotationDockerReferenceType on attestation manifests.
	DockerReferenceTypeAttestation = "attestation-manifest"
	// AnnotationImageName is the full image reference containerd and
	// BuildKit's client record in an OCI layout's index.json, next to
	// org.opencontainers.image.ref.name (usually only the tag there).
	AnnotationImageName = "io.containerd.image.name"

	// AnnotationGenerator names the tool (and version) that generated an SBOM referrer.
	AnnotationGenerator = "dev.affix.sbom.generator"
	// AnnotationPlatform is the platform (os/arch[/variant]) of the SBOM's subject.
	AnnotationPlatform = "dev.affix.sbom.platform"
	// AnnotationFormat is the affix format name of an SBOM (spdx-json, cyclonedx-json).
	AnnotationFormat = "dev.affix.sbom.format"
)
