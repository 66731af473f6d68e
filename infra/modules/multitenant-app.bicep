// Many tenants (README: "Many tenants"): the app registration the bot reads and fixes customer tenants with. A
// managed identity works in its own tenant only; this app is multi-tenant (signInAudience AzureADMultipleOrgs), an
// administrator of each customer tenant consents to it (admin consent sends the browser back to <PUBLIC_URL>/consent),
// and it asks for the same Graph application permissions the managed identity holds. Bicep cannot create its client
// secret: create one in the app registration, store it in Key Vault, and give its URI as graphClientSecretUri.
// Needs the Microsoft Graph Bicep extension (bicepconfig.json); whoever provisions must be allowed to create apps.

extension microsoftGraphV1

param displayName string

@description('Stable name of the app registration, so provisioning again updates it.')
param uniqueName string

@description('Where admin consent sends the browser back: the bot\'s PUBLIC_URL + /consent.')
param redirectUri string

@description('Graph application permission names the app asks each tenant for, e.g. User.Read.All.')
param roles array

var graphAppId = '00000003-0000-0000-c000-000000000000'

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: graphAppId
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  web: {
    redirectUris: [
      redirectUri
    ]
  }
  requiredResourceAccess: [
    {
      resourceAppId: graphAppId
      resourceAccess: [
        for role in roles: {
          id: filter(graph.appRoles, r => r.value == role)[0].id
          type: 'Role'
        }
      ]
    }
  ]
}

// Its service principal in the deployment's own tenant, where the permissions are granted at provision time.
resource principal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

output appId string = app.appId
output principalId string = principal.id
