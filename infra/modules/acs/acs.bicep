// Phone calls through Azure Communication Services (docs/phone.md): the Communication Services
// resource, the relay's right to answer and hang up its calls with its managed identity (no
// access key), and the Event Grid system topic whose subscription delivers IncomingCall to the
// relay's webhook.  The phone number is bought by hand (docs/phone.md says how): numbers are
// bought per country with an address and compliance checks that a template cannot make.

@description('Name of the Communication Services resource.')
param name string

@description('Tags of every resource.')
param tags object

@description('Where ACS keeps its data at rest: a geography (e.g. United States, Europe), not a region.')
param dataLocation string

@description('Principal id of the relay\'s managed identity: given Contributor on this resource only, for Call Automation with Entra ID.')
param relayPrincipalId string

@description('The relay\'s webhook for IncomingCall, with its ?key= (\'\': no subscription yet; Event Grid checks the webhook when the subscription is made, so the relay must already run its image).')
@secure()
param incomingCallWebhookUrl string

// Contributor: Call Automation has no narrower built-in data role; scoped to this resource.
var contributorRoleId = 'b24988ac-6180-42a0-ab88-20f7382dd24c'

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource relayCallAutomation 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, relayPrincipalId, contributorRoleId)
  scope: communication
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', contributorRoleId)
    principalId: relayPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource events 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgt-${name}'
  location: 'global'
  tags: tags
  properties: {
    source: communication.id
    topicType: 'Microsoft.Communication.CommunicationServices'
  }
}

// One event per post, delivered for a minute at most: a call nobody answers within that has
// been given up by its caller.
resource incomingCalls 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = if (!empty(incomingCallWebhookUrl)) {
  parent: events
  name: 'relay-incoming-calls'
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: incomingCallWebhookUrl
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.Communication.IncomingCall'
      ]
    }
    eventDeliverySchema: 'EventGridSchema'
    retryPolicy: {
      maxDeliveryAttempts: 3
      eventTimeToLiveInMinutes: 1
    }
  }
}

@description('ACS_ENDPOINT: Call Automation with the relay\'s Entra ID identity.')
output endpoint string = 'https://${communication.properties.hostName}'

@description('ACS_RESOURCE_ID: the audience of the tokens ACS signs its callbacks and media connections with.')
output immutableResourceId string = communication.properties.immutableResourceId

output name string = communication.name
