// The relay on Azure, in one resource group: the relay on Container Apps with a user-assigned
// managed identity, Azure OpenAI with a realtime deployment, Cosmos DB for the conversations,
// the roles that let the identity use both (no keys), a registry for the image, an Azure Files
// share for the relay's DATA_DIR, and Log Analytics for its logs.
//
//   azd up                                  (azure.yaml; azd asks for the environment and region)
//   az deployment sub create -l swedencentral -f infra/main.bicep \
//       -p environmentName=relay-prod location=swedencentral \
//          relayImage=REGISTRY.azurecr.io/voice-relay:TAG
//
// (-l is where the deployment's own record is kept; location, a required parameter, is where
// the resources go.)  Every parameter is described below and in docs/deploying.md.  The relay's
// settings are passed to its container by modules/app/relay.bicep; tests/infra/test_infra.py
// checks that each is a setting the relay reads (app/settings.py) with a value it accepts, and
// tests/infra/test_bicep_syntax.py and tests/infra/test_checkov.py parse and scan every file here.

targetScope = 'subscription'

@description('Name of the deployment (azd: the environment name): names the resource group and, hashed, every resource.')
@minLength(1)
@maxLength(40)
param environmentName string

@description('Azure region of every resource but Azure OpenAI.')
param location string

@description('Resource group to create or reuse (default: rg-ENVIRONMENTNAME).')
param resourceGroupName string = ''

@description('Azure region of Azure OpenAI: one where the realtime model is offered (default: location).')
param openAiLocation string = ''

@description('Realtime model to deploy.')
param realtimeModelName string = 'gpt-realtime'

@description('Version of the realtime model.')
param realtimeModelVersion string = '2025-08-28'

@description('Name of the realtime deployment (the relay\'s AZURE_OPENAI_DEPLOYMENT).')
param realtimeDeploymentName string = 'gpt-realtime'

@description('Capacity of the realtime deployment in quota units (GlobalStandard: billed per token, not per unit).')
@minValue(1)
param realtimeCapacity int = 1

@description('Database of the conversations (the relay\'s COSMOSDB_DATABASE).')
param cosmosDatabaseName string = 'GenAI'

@description('Container of the conversations (the relay\'s COSMOSDB_CONTAINER).')
param cosmosContainerName string = 'AI_Conversations'

@description('Retention: seconds after its last write a conversation is deleted. 0 keeps them forever.')
@minValue(0)
param conversationTtlSeconds int = 0

@description('Object id of the principal running the deployment (azd fills it in): given the same data roles as the relay, to run the relay or its commands locally.')
param principalId string = ''

@description('Type of principalId: User for a person (azd up on a laptop), ServicePrincipal for a pipeline (azd sets AZURE_PRINCIPAL_TYPE).')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Object ids of more developers (users) given the same data roles as the relay; duplicates are ignored.')
param developerPrincipalIds array = []

@description('Image to run, e.g. REGISTRY.azurecr.io/voice-relay:TAG (\'\': the image already deployed, or a placeholder until azd deploy).')
param relayImage string = ''

@description('Whether the relay\'s Container App exists already (azd: SERVICE_RELAY_RESOURCE_EXISTS), so that its image is kept.')
param relayExists bool = false

@description('vCPU per replica (0.25 to 4; memory is twice this in GiB).')
@allowed(['0.5', '1.0', '2.0', '4.0'])
param containerCpu string = '1.0'

@description('WORKERS: relay processes per replica; the replica\'s whole vCPUs (1 for 0.5 or 1.0).')
@minValue(1)
param workers int = 1

@description('Fewest replicas: at least 1, since scaling to zero would end live calls.')
@minValue(1)
param minReplicas int = 1

@description('Most replicas.  Replicas share the data share, each spooling under its own name (docs/deploying.md, "Scaling out").')
@minValue(1)
param maxReplicas int = 1

@description('Average CPU use (percent of the replica\'s vCPU) above which another replica starts, up to maxReplicas.')
@minValue(10)
@maxValue(95)
param cpuScaleThreshold int = 70

// The bounds are the relay's own: SHUTDOWN_GRACE >= SAVE_TIMEOUT (10 s) + SPOOL_MARGIN (5 s),
// checked at start-up (app/settings.py), and the platform's 600 s termination grace at most.
@description('SHUTDOWN_GRACE: seconds a stopping relay gives live calls to end and be saved (at least SAVE_TIMEOUT + 5 s = 15 s); the container is given 30 s more.')
@minValue(15)
@maxValue(570)
param shutdownGraceSeconds int = 25

@description('MAX_CALLS: live calls one relay process accepts before answering 503.')
@minValue(1)
param maxCalls int = 100

@description('MAX_CALLS_PER_CUSTOMER: live calls one customer may have at once.')
@minValue(1)
param maxCallsPerCustomer int = 5

@description('MAX_FRAME_RATE: WebSocket messages per second a browser may send on one call.')
@minValue(1)
param maxFrameRate int = 250

@description('REDACT_PII: redact personal data in stored transcripts before they are saved.')
param redactPii bool = true

@description('RECORD_CALLS: keep each call\'s audio (caller and assistant, as heard) in the Blob container recordings; see docs/recording.md for the consent and retention duties.')
param recordCalls bool = false

@description('LOG_LEVEL of the relay.')
@allowed(['CRITICAL', 'ERROR', 'WARNING', 'INFO', 'DEBUG'])
param logLevel string = 'INFO'

@description('ALLOWED_ORIGINS: comma-separated browser origins allowed to open calls (\'\': the relay\'s own page only).')
param allowedOrigins string = ''

@description('ADMIN_TOKEN for the admin API and dashboard (\'\': loopback clients only, so nobody in Azure).')
@secure()
param adminToken string = ''

@description('CALL_TOKEN_SECRET, at least 32 characters, to verify signed call tokens (\'\': ?customer_id= is trusted as given).')
@secure()
param callTokenSecret string = ''

@description('TWILIO_AUTH_TOKEN: the Twilio account\'s auth token; turns the Twilio phone routes on (\'\': off). See docs/phone.md.')
@secure()
param twilioAuthToken string = ''

@description('CALLER_ID_SECRET, at least 32 characters: the key that hashes a phone caller\'s number into customer_id (required with a phone provider).')
@secure()
param callerIdSecret string = ''

@description('PUBLIC_BASE_URL: the https address phone providers reach the relay at (\'\': the Container App\'s own address).')
param publicBaseUrl string = ''

@description('Answer phone calls through Azure Communication Services (docs/phone.md): the ACS resource, its settings passed to the relay.')
param acsEnabled bool = false

@description('Where ACS keeps its data at rest (a geography).')
param acsDataLocation string = 'United States'

@description('ACS_WEBHOOK_KEY, at least 32 characters: the ?key= of the relay\'s IncomingCall webhook; required with acsEnabled.')
@secure()
param acsWebhookKey string = ''

@description('Subscribe the relay\'s webhook to IncomingCall; only once the relay runs its image (Event Grid checks the webhook as the subscription is made).')
param acsSubscribeIncomingCalls bool = false

@description('Days Log Analytics keeps the relay\'s logs.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

var tags = {
  'azd-env-name': environmentName
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
// union() drops duplicates: one role assignment (one name) per principal.
var developers = union(empty(principalId) ? [] : [principalId], developerPrincipalIds)
// The deploying principal has its own type; the other developers are people.
var developerTypes = [for developer in developers: developer == principalId ? principalType : 'User']
// Memory per replica: Container Apps' Consumption profile takes 2 GiB per vCPU.
var memoryByCpu = {
  '0.5': '1Gi'
  '1.0': '2Gi'
  '2.0': '4Gi'
  '4.0': '8Gi'
}
var relayName = 'ca-relay-${resourceToken}'
// Until azd deploy pushes the relay's image, the app runs a public placeholder.
// The relay module serves it on its own port (80) with probes it passes.
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'
var image = !empty(relayImage) ? relayImage : (relayExists ? existingImage.outputs.image : placeholderImage)

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

module appIdentity 'modules/identity/identity.bicep' = {
  name: 'identity'
  scope: group
  params: {
    name: 'id-relay-${resourceToken}'
    location: location
    tags: tags
  }
}

module logs 'modules/monitoring/log-analytics.bicep' = {
  name: 'log-analytics'
  scope: group
  params: {
    name: 'log-${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module registry 'modules/registry/registry.bicep' = {
  name: 'registry'
  scope: group
  params: {
    name: 'cr${resourceToken}'
    location: location
    tags: tags
    pullPrincipalId: appIdentity.outputs.principalId
  }
}

module dataShare 'modules/storage/file-share.bicep' = {
  name: 'data-share'
  scope: group
  params: {
    accountName: 'st${resourceToken}'
    location: location
    tags: tags
  }
}

module cosmos 'modules/cosmos/cosmos.bicep' = {
  name: 'cosmos'
  scope: group
  params: {
    accountName: 'cosmos-${resourceToken}'
    location: location
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    defaultTtlSeconds: conversationTtlSeconds
    dataContributorPrincipalIds: concat([appIdentity.outputs.principalId], developers)
  }
}

// Call recordings: container, lifecycle rule from the same TTL, the identity's data role.
module recordings 'modules/storage/recordings.bicep' = {
  name: 'recordings'
  scope: group
  params: {
    accountName: dataShare.outputs.accountName
    conversationTtlSeconds: conversationTtlSeconds
    relayPrincipalId: appIdentity.outputs.principalId
    developerPrincipalIds: developers
  }
}

module openAi 'modules/openai/openai.bicep' = {
  name: 'openai'
  scope: group
  params: {
    name: 'oai-${resourceToken}'
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: realtimeDeploymentName
    modelName: realtimeModelName
    modelVersion: realtimeModelVersion
    capacity: realtimeCapacity
    userPrincipalIds: concat([appIdentity.outputs.principalId], developers)
    userPrincipalTypes: concat(['ServicePrincipal'], developerTypes)
  }
}

// The https address at which providers reach the relay: PUBLIC_BASE_URL, or the app's own.
var relayPublicUrl = empty(publicBaseUrl) ? 'https://${relayName}.${appsEnvironment.outputs.defaultDomain}' : publicBaseUrl

module acs 'modules/acs/acs.bicep' = if (acsEnabled) {
  name: 'acs'
  scope: group
  params: {
    name: 'acs-${resourceToken}'
    tags: tags
    dataLocation: acsDataLocation
    relayPrincipalId: appIdentity.outputs.principalId
    incomingCallWebhookUrl: acsSubscribeIncomingCalls ? '${relayPublicUrl}/api/phone/acs/incoming?key=${acsWebhookKey}' : ''
  }
}

module appsEnvironment 'modules/app/environment.bicep' = {
  name: 'container-apps-environment'
  scope: group
  params: {
    name: 'cae-${resourceToken}'
    location: location
    tags: tags
    logAnalyticsName: logs.outputs.name
    storageAccountName: dataShare.outputs.accountName
    shareName: dataShare.outputs.shareName
  }
}

module existingImage 'modules/app/existing-image.bicep' = {
  name: 'relay-existing-image'
  scope: group
  params: {
    exists: relayExists
    name: relayName
  }
}

module relay 'modules/app/relay.bicep' = {
  name: 'relay'
  scope: group
  params: {
    name: relayName
    location: location
    tags: union(tags, { 'azd-service-name': 'relay' })
    environmentId: appsEnvironment.outputs.id
    storageName: appsEnvironment.outputs.storageName
    identityId: appIdentity.outputs.id
    identityClientId: appIdentity.outputs.clientId
    registryServer: registry.outputs.loginServer
    image: image
    placeholder: image == placeholderImage
    cpu: containerCpu
    memory: memoryByCpu[containerCpu]
    workers: workers
    minReplicas: minReplicas
    maxReplicas: maxReplicas
    cpuScaleThreshold: cpuScaleThreshold
    shutdownGraceSeconds: shutdownGraceSeconds
    maxCalls: maxCalls
    maxCallsPerCustomer: maxCallsPerCustomer
    maxFrameRate: maxFrameRate
    redactPii: redactPii
    recordCalls: recordCalls
    storageAccountUrl: recordings.outputs.accountUrl
    logLevel: logLevel
    allowedOrigins: allowedOrigins
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabase: cosmos.outputs.databaseName
    cosmosContainer: cosmos.outputs.containerName
    openAiEndpoint: openAi.outputs.endpoint
    openAiDeployment: openAi.outputs.deploymentName
    adminToken: adminToken
    callTokenSecret: callTokenSecret
    twilioAuthToken: twilioAuthToken
    callerIdSecret: callerIdSecret
    publicBaseUrl: publicBaseUrl
    acsEndpoint: acsEnabled ? acs.outputs.endpoint : ''
    acsResourceId: acsEnabled ? acs.outputs.immutableResourceId : ''
    acsWebhookKey: acsWebhookKey
  }
}

// For azd (it pushes the image to this registry and reads these into .azure/ENV/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name

@description('Where browsers reach the relay.')
output RELAY_URL string = relay.outputs.uri
output RELAY_APP_NAME string = relay.outputs.name

// True while the app runs the placeholder (first provision): azure.yaml's postdeploy hook then
// provisions once more, so that the relay's image gets the relay's port and probes (azd deploy
// changes only the image).
output RELAY_PLACEHOLDER bool = image == placeholderImage

// The identity the relay runs as (set as AZURE_CLIENT_ID in its container; leave it unset when
// you run the relay or its commands locally with your own az login).
output AZURE_CLIENT_ID string = appIdentity.outputs.clientId

// The relay's settings, for running it (or python -m app export|stats) locally against the same
// services with your own az login (principalId or developerPrincipalIds have the data roles).
output COSMOSDB_ACCOUNT string = cosmos.outputs.accountName
output COSMOSDB_ENDPOINT string = cosmos.outputs.endpoint
output COSMOSDB_DATABASE string = cosmos.outputs.databaseName
output AZURE_STORAGE_ACCOUNT_URL string = recordings.outputs.accountUrl
output COSMOSDB_CONTAINER string = cosmos.outputs.containerName
output AZURE_OPENAI_ENDPOINT string = openAi.outputs.endpoint
output AZURE_OPENAI_DEPLOYMENT string = openAi.outputs.deploymentName

// Phone calls through ACS (acsEnabled): the settings a local relay needs besides ACS_WEBHOOK_KEY.
output ACS_ENDPOINT string = acsEnabled ? acs.outputs.endpoint : ''
output ACS_RESOURCE_ID string = acsEnabled ? acs.outputs.immutableResourceId : ''
output PUBLIC_BASE_URL string = relayPublicUrl
