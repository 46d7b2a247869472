package graph

// Kind is a node kind. Where STIX 2.1 has a type for the entity the kind is
// that type's name; custom STIX types keep their own name.
type Kind string

// Observable kinds (STIX cyber-observable objects) and the hash kind.
const (
	KindArtifact           Kind = "artifact"
	KindAutonomousSystem   Kind = "autonomous-system"
	KindDirectory          Kind = "directory"
	KindDomainName         Kind = "domain-name"
	KindEmailAddr          Kind = "email-addr"
	KindEmailMessage       Kind = "email-message"
	KindFile               Kind = "file"
	KindIPv4Addr           Kind = "ipv4-addr"
	KindIPv6Addr           Kind = "ipv6-addr"
	KindMACAddr            Kind = "mac-addr"
	KindMutex              Kind = "mutex"
	KindNetworkTraffic     Kind = "network-traffic"
	KindProcess            Kind = "process"
	KindSoftware           Kind = "software"
	KindURL                Kind = "url"
	KindUserAccount        Kind = "user-account"
	KindWindowsRegistryKey Kind = "windows-registry-key"
	KindX509Certificate    Kind = "x509-certificate"
	// KindCryptocurrencyWallet is a wallet address (a ransom note's
	// Bitcoin or Monero address): OpenCTI's Cryptocurrency-Wallet
	// observable (its STIX type cryptocurrency-wallet, keyed by value as
	// OpenCTI keys it) and MISP's btc, xmr and dash attributes, so one
	// wallet from two events or producers is one node.
	KindCryptocurrencyWallet Kind = "cryptocurrency-wallet"
	// KindHash is a file hash on its own ("SHA-256:<hex>"), the meeting point
	// of files, indicator patterns and hash attributes.
	KindHash Kind = "hash"
)

// Named kinds (STIX domain objects and the like).
const (
	KindAttackPattern  Kind = "attack-pattern"
	KindCampaign       Kind = "campaign"
	KindCourseOfAction Kind = "course-of-action"
	KindGrouping       Kind = "grouping"
	KindIdentity       Kind = "identity"
	KindIncident       Kind = "incident"
	KindIndicator      Kind = "indicator"
	KindInfrastructure Kind = "infrastructure"
	KindIntrusionSet   Kind = "intrusion-set"
	KindLocation       Kind = "location"
	KindMalware        Kind = "malware"
	KindMalwareAnalyse Kind = "malware-analysis"
	KindNote           Kind = "note"
	KindObservedData   Kind = "observed-data"
	KindOpinion        Kind = "opinion"
	KindReport         Kind = "report"
	KindThreatActor    Kind = "threat-actor"
	KindTool           Kind = "tool"
	KindVulnerability  Kind = "vulnerability"
	// KindSighting is a sighting: a node linked to what was sighted
	// (sighting-of), where (where-sighted) and the evidence (observed).
	KindSighting Kind = "sighting"
)

// observableKinds are the kinds whose ids follow the STIX deterministic
// identifier rules.
var observableKinds = map[Kind]bool{
	KindArtifact: true, KindAutonomousSystem: true, KindDirectory: true, KindDomainName: true,
	KindEmailAddr: true, KindEmailMessage: true, KindFile: true, KindIPv4Addr: true,
	KindIPv6Addr: true, KindMACAddr: true, KindMutex: true, KindNetworkTraffic: true,
	KindProcess: true, KindSoftware: true, KindURL: true, KindUserAccount: true,
	KindWindowsRegistryKey: true, KindX509Certificate: true, KindCryptocurrencyWallet: true,
}

// IsObservable reports whether k is a STIX cyber-observable kind.
func (k Kind) IsObservable() bool { return observableKinds[k] }

// valueProperties are the single-value observable kinds and the one STIX
// property that holds their value.
var valueProperties = map[Kind]string{
	KindIPv4Addr: "value", KindIPv6Addr: "value", KindDomainName: "value", KindURL: "value",
	KindEmailAddr: "value", KindMACAddr: "value", KindMutex: "name", KindDirectory: "path",
	KindCryptocurrencyWallet: "value",
}

// ValueProperty returns the property that holds the value of a
// single-value observable kind ("value" for addresses, domains and URLs,
// "name" for a mutex, "path" for a directory); false for other kinds.
func (k Kind) ValueProperty() (string, bool) {
	p, ok := valueProperties[k]
	return p, ok
}

// Relation types the mappers and the telemetry writer use beyond the STIX
// relationship_type vocabulary.
const (
	RelHasHash      = "has-hash"      // file → hash
	RelBasedOn      = "based-on"      // indicator → observable from its pattern
	RelIndicates    = "indicates"     // indicator → malware, intrusion set, ...
	RelAttributedTo = "attributed-to" // malware/campaign/intrusion set → actor
	RelSightingOf   = "sighting-of"   // sighting → what was sighted
	// A MISP sighting of type false-positive (1) or expiration (2) is a
	// report about the attribute, not a sighting of it: its node links
	// false-positive-of (an organisation reports the value benign) or
	// expiration-of (the value stops being valid at the node's time).
	RelFalsePositiveOf = "false-positive-of"
	RelExpirationOf    = "expiration-of"
	// A STIX sighting of count 0 says the object was looked for (where,
	// from first to last seen) and sighted no time: its node links
	// no-sighting-of, no sighting of it.
	RelNoSightingOf = "no-sighting-of"
	RelWhereSighted = "where-sighted" // sighting → identity or location
	RelObserved     = "observed"      // sighting → observed-data
)

// producerObservables are observable types producers define outside STIX
// 2.1 for what a STIX type already is, with the kind they are kept as, so
// that one value from two producers is one node: OpenCTI's hostname (and
// its older x-opencti-hostname) is a domain-name, as MISP's hostname
// attribute is (ingest/misp).
var producerObservables = map[string]Kind{
	"hostname": KindDomainName, "x-opencti-hostname": KindDomainName,
}

// MISPWalletTypes are MISP's attribute types of a cryptocurrency wallet
// address (its describeTypes: btc, dash, xmr), kept as
// KindCryptocurrencyWallet by the MISP loader and, in misp-stix's export
// (an x-misp-attribute of that x_misp_type), by the STIX loader.
var MISPWalletTypes = []string{"btc", "dash", "xmr"}

// ProducerObservableKind returns the STIX kind a producer's own observable
// type is kept as (OpenCTI's hostname: domain-name); false for any other
// type.
func ProducerObservableKind(stixType string) (Kind, bool) {
	k, ok := producerObservables[stixType]
	return k, ok
}
